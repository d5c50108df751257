"""Measurements computed in numpy from returned vectors (never with ngspice ``.meas``).

Definitions follow the project's architecture: delays between 50 % crossings, slews 20-80 %,
energies as the integral of V*I delivered by each supply over a window.
"""
from __future__ import annotations

import numpy as np

__all__ = ["MeasurementNotFound", "crossing", "crossings", "delay", "supply_energy",
           "window_mean"]


class MeasurementNotFound(ValueError):
    """A crossing or window the measurement needs is not in the waveform."""


def crossings(t: np.ndarray, y: np.ndarray, level: float, direction: str = "either") -> np.ndarray:
    """All times where ``y`` crosses ``level`` (linear interpolation); direction rise/fall/either."""
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float) - level
    sign = np.signbit(y)
    idx = np.nonzero(sign[:-1] != sign[1:])[0]
    if direction == "rise":
        idx = idx[y[idx] < 0]
    elif direction == "fall":
        idx = idx[y[idx] >= 0]
    elif direction != "either":
        raise ValueError(f"direction must be rise, fall or either, not {direction!r}")
    y0, y1 = y[idx], y[idx + 1]
    frac = np.where(y1 != y0, -y0 / np.where(y1 != y0, y1 - y0, 1.0), 0.0)
    return t[idx] + frac * (t[idx + 1] - t[idx])


def crossing(t, y, level: float, direction: str = "either", after: float = -np.inf,
             which: str = "first") -> float:
    """The first (or last) crossing after ``after``; raises :class:`MeasurementNotFound`."""
    times = crossings(t, y, level, direction)
    times = times[times > after]
    if times.size == 0:
        raise MeasurementNotFound(f"no {direction} crossing of {level:g} after t={after:g}")
    return float(times[0] if which == "first" else times[-1])


def delay(t, trigger, output, vdd: float, trigger_dir: str, output_dir: str, after: float = -np.inf) -> float:
    """50 % trigger crossing -> first following 50 % output crossing."""
    t_in = crossing(t, trigger, 0.5 * vdd, trigger_dir, after)
    t_out = crossing(t, output, 0.5 * vdd, output_dir, t_in)
    return t_out - t_in


def _window(t, *arrays, start: float, stop: float):
    t = np.asarray(t, dtype=float)
    if not (t[0] <= start < stop <= t[-1] * (1 + 1e-12)):
        raise MeasurementNotFound(f"window [{start:g}, {stop:g}] outside the simulated [{t[0]:g}, {t[-1]:g}]")
    inner = (t > start) & (t < stop)
    tw = np.concatenate(([start], t[inner], [stop]))
    return tw, [np.interp(tw, t, np.asarray(a, dtype=float)) for a in arrays]


def supply_energy(t, v_supply, i_source, start: float, stop: float) -> float:
    """Energy (J) delivered by a voltage source over [start, stop].

    ngspice reports the branch current flowing into the + terminal through the source, so a supply
    that delivers power has negative current: E = -integral(V * I dt).
    """
    tw, (v, i) = _window(t, v_supply, i_source, start=start, stop=stop)
    return float(-np.trapezoid(v * i, tw))


def window_mean(t, y, start: float, stop: float) -> float:
    """Time average of ``y`` over [start, stop]."""
    tw, (yw,) = _window(t, y, start=start, stop=stop)
    return float(np.trapezoid(yw, tw) / (stop - start))
