"""Common machinery of the compact RRAM models: named parameter sets, validation, variability.

A model is pure: parameters in, ngspice subcircuit text out. Every number that reaches the text is
checked to be a finite float and written as a literal (ngspice 39 mis-evaluates brace parameters
mixed with node voltages inside B-source expressions).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Real
from typing import Callable, Mapping

import numpy as np

__all__ = ["ModelParameterError", "ParameterSet", "Variability", "RRAMModel", "literal", "clip", "neg_safe", "check_subckt_name"]

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def short_repr(value: object, limit: int = 120) -> str:
    """``repr`` for an error line: bounded in length and safe for values nested thousands deep."""
    try:
        text = repr(value)
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


class InputError(ValueError):
    """The one base class of bad input, in every layer: ``field`` names where it came from, ``value``
    what was given, ``reason`` what is wrong. The command line prints it as one line, exit code 2.
    (It lives here because rram_models is the root of the package dependency graph.)"""

    def __init__(self, field: str, value: object = None, reason: str = ""):
        self.field, self.value, self.reason = field, value, reason
        super().__init__(f"{field}: {short_repr(value)} {reason}" if reason else field)


class ModelParameterError(InputError):
    """A bad model parameter."""


def spice_number(value: float) -> str:
    """A finite float as a netlist literal with 12 significant digits (no SI suffix ambiguity).

    Not ``repr``: a value derived through numpy's transcendental functions may differ in its last
    bit between numpy builds and CPUs, and a netlist (its golden file, its cache key) must not."""
    text = f"{float(value):.12g}"
    return text if any(c in text for c in ".en") else text + ".0"


def literal(name: str, value: object) -> str:
    """``value`` as a float literal (:func:`spice_number`), or :class:`ModelParameterError`."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ModelParameterError(name, value, "is not a finite number")
    return spice_number(value)


def clip(expr: str, lo, hi) -> str:
    """``expr`` clipped to [lo, hi] in a B-source (``limit()`` evaluates to 0 in ngspice 39's B-sources)."""
    return f"min(max({expr},{lo}),{hi})"


def neg_safe(text: str) -> str:
    """A literal wrapped in parentheses when negative (``a/-0.2`` is ambiguous to some parsers)."""
    return f"({text})" if text.startswith("-") else text


def check_subckt_name(name: object) -> str:
    if not isinstance(name, str) or not name or name[0].isdigit() or not set(name) <= _NAME_CHARS:
        raise ModelParameterError("name", name, "is not a subcircuit name matching [A-Za-z_][A-Za-z0-9_]*")
    return name


@dataclass(frozen=True)
class ParameterSet:
    """A named set of parameter values (only the ones that differ from the model defaults) and
    where its numbers come from."""

    name: str
    values: Mapping[str, float]
    source: str


@dataclass(frozen=True)
class Variability:
    """Device-to-device and cycle-to-cycle variability, reproducible from ``seed``.

    * ``d2d``: ``(parameter, distribution, sigma)`` triples; ``"lognormal"`` multiplies the
      nominal value by ``exp(sigma * z)``, ``"normal"`` multiplies it by ``1 + sigma * z``
      (z ~ N(0, 1)). Device ``i`` of a seed always gets the same draw.
    * ``c2c_sigma``: cycle-to-cycle noise on the state update: the switching rate is multiplied by
      ``exp(c2c_sigma * z_k)``, a new z_k every ``c2c_interval_s`` (piecewise constant).
    """

    d2d: tuple[tuple[str, str, float], ...] = ()
    c2c_sigma: float = 0.0
    c2c_interval_s: float = 1e-9
    seed: int = 0

    def __post_init__(self):
        for entry in self.d2d:
            if len(entry) != 3 or entry[1] not in ("lognormal", "normal"):
                raise ModelParameterError("d2d", entry, "must be (parameter, 'lognormal'|'normal', sigma)")
            if not (isinstance(entry[2], Real) and 0 <= entry[2] < 1):
                raise ModelParameterError(f"d2d {entry[0]} sigma", entry[2], "must be within [0, 1)")
        if not (isinstance(self.c2c_sigma, Real) and 0 <= self.c2c_sigma < 2):
            raise ModelParameterError("c2c_sigma", self.c2c_sigma, "must be within [0, 2)")
        if not (isinstance(self.c2c_interval_s, Real) and self.c2c_interval_s > 0):
            raise ModelParameterError("c2c_interval_s", self.c2c_interval_s, "must be > 0")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ModelParameterError("seed", self.seed, "must be an integer >= 0")

    def device_params(self, params: Mapping[str, float], device: int = 0) -> dict[str, float]:
        """The parameters of device number ``device`` (its own reproducible random draw)."""
        rng = np.random.default_rng([self.seed, 1, device])
        out = dict(params)
        for name, dist, sigma in self.d2d:
            if name not in out:
                raise ModelParameterError("d2d", name, f"is not a parameter ({', '.join(out)})")
            z = rng.standard_normal()
            out[name] = out[name] * (math.exp(sigma * z) if dist == "lognormal" else 1 + sigma * z)
        return out

    def c2c_factors(self, stop_s: float, device: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(interval start times, rate factors) covering [0, stop_s] for device ``device``."""
        n = max(1, int(math.ceil(stop_s / self.c2c_interval_s)))
        rng = np.random.default_rng([self.seed, 2, device])
        starts = np.arange(n) * self.c2c_interval_s
        return starts, np.exp(self.c2c_sigma * rng.standard_normal(n))


@dataclass(frozen=True)
class RRAMModel:
    """One compact model: defaults, units, named parameter sets and the subcircuit writer.

    ``state`` (the third port) carries the model's state variable in SI units as a voltage.
    ``current(v, state, params)`` and ``read_resistance`` evaluate the same I-V equation in numpy
    (used by measurements that convert a state trajectory into a resistance).
    """

    name: str
    description: str
    params: Mapping[str, float]
    units: Mapping[str, str]
    parameter_sets: Mapping[str, ParameterSet]
    state_name: str
    state_unit: str
    _writer: Callable[..., str] = field(repr=False)
    _current: Callable[..., np.ndarray] = field(repr=False)
    _iv_expression: Callable[..., str] | None = field(default=None, repr=False)
    state_bounds_names: tuple[str, str] = ("", "")
    state_initial_name: str = ""
    set_polarity: int = 1  # sign of the device voltage that lowers the resistance

    # ---- parameters
    def resolve(self, parameter_set: str | None = None, **overrides) -> dict[str, float]:
        """Defaults, updated by a named set, updated by overrides; every value checked."""
        values = dict(self.params)
        if parameter_set is not None:
            if parameter_set not in self.parameter_sets:
                raise ModelParameterError("parameter_set", parameter_set,
                                          f"is not a parameter set of {self.name} ({', '.join(self.parameter_sets)})")
            values.update(self.parameter_sets[parameter_set].values)
        for key, value in overrides.items():
            if key not in values:
                raise ModelParameterError(key, value, f"is not a parameter of {self.name} ({', '.join(values)})")
            literal(key, value)
            values[key] = float(value)
        return values

    def bounds(self, params: Mapping[str, float]) -> tuple[float, float]:
        lo, hi = (params[n] for n in self.state_bounds_names)
        return float(lo), float(hi)

    # ---- netlist
    def subckt(self, name: str = "rram", *, parameter_set: str | None = None,
               variability: Variability | None = None, device: int = 0, c2c_stop_s: float | None = None,
               **overrides) -> str:
        """``.subckt NAME te be state ... .ends``.

        With ``variability``, the device's parameters are its own draw (``device`` numbers the
        device) and, if ``c2c_sigma > 0``, the switching rate carries piecewise-constant
        multiplicative noise up to ``c2c_stop_s``.
        """
        check_subckt_name(name)
        values = self.resolve(parameter_set, **overrides)
        factors = None
        if variability is not None:
            values = variability.device_params(values, device)
            if variability.c2c_sigma > 0:
                if c2c_stop_s is None:
                    raise ModelParameterError("c2c_stop_s", c2c_stop_s, "is needed with cycle-to-cycle noise")
                factors = variability.c2c_factors(float(literal("c2c_stop_s", c2c_stop_s)), device)
        lo, hi = self.bounds(values)
        if not lo < hi:
            raise ModelParameterError(self.state_bounds_names[0], lo, f"must be < {self.state_bounds_names[1]} = {hi}")
        ini = values[self.state_initial_name]
        if not lo <= ini <= hi:
            raise ModelParameterError(self.state_initial_name, ini, f"must lie within [{lo}, {hi}]")
        return self._writer(name, values, factors)

    def static_subckt(self, name: str, state: float, *, parameter_set: str | None = None,
                      multiplier: float = 1.0, **overrides) -> str:
        """``.subckt NAME te be``: the device frozen at ``state`` (only its I-V equation), ``multiplier``
        devices in parallel. For read-only circuits after read disturb has been shown negligible
        (``rram-read``): one B-source per cell instead of the full switching model."""
        check_subckt_name(name)
        values = self.resolve(parameter_set, **overrides)
        lo, hi = self.bounds(values)
        if not lo <= float(literal("state", state)) <= hi:
            raise ModelParameterError("state", state, f"must lie within [{lo}, {hi}]")
        if not float(literal("multiplier", multiplier)) > 0:
            raise ModelParameterError("multiplier", multiplier, "must be > 0")
        expr = self._iv_expression(values, float(state), "v(te,be)")
        return "\n".join([f".subckt {name} te be",
                          f"* {self.name} frozen at {self.state_name} = {literal('state', state)} {self.state_unit}"
                          f", x{literal('multiplier', multiplier)}",
                          f"Bi te be I={literal('multiplier', multiplier)}*{expr}",
                          f".ends {name}"])

    def state_for_resistance(self, resistance: float, v_read: float, params: Mapping[str, float]) -> float:
        """The state whose read resistance at ``v_read`` is ``resistance`` (bisection on the I-V)."""
        lo, hi = self.bounds(params)
        r_lo, r_hi = (float(self.read_resistance(s, v_read, params)) for s in (lo, hi))
        if not min(r_lo, r_hi) <= resistance <= max(r_lo, r_hi):
            raise ModelParameterError("resistance", resistance, f"is outside [{min(r_lo, r_hi):.4g}, {max(r_lo, r_hi):.4g}] ohm")
        increasing = r_hi > r_lo
        a, b = lo, hi
        for _ in range(200):
            mid = 0.5 * (a + b)
            r = float(self.read_resistance(mid, v_read, params))
            if (r < resistance) == increasing:
                a = mid
            else:
                b = mid
        return 0.5 * (a + b)

    # ---- numpy evaluation of the I-V equation
    def current(self, v, state, params: Mapping[str, float]):
        return self._current(np.asarray(v, dtype=float), np.asarray(state, dtype=float), params)

    def read_resistance(self, state, v_read: float, params: Mapping[str, float]):
        return v_read / self.current(v_read, state, params)

    def r_on_off(self, v_read: float, params: Mapping[str, float]) -> tuple[float, float]:
        """(R_on, R_off) at ``v_read``: the resistances at the two state bounds."""
        lo, hi = self.bounds(params)
        r_lo, r_hi = (float(self.read_resistance(s, v_read, params)) for s in (lo, hi))
        return (min(r_lo, r_hi), max(r_lo, r_hi))


def pwl_factor_source(name: str, node: str, factors: tuple[np.ndarray, np.ndarray] | None) -> list[str]:
    """A piecewise-constant voltage source carrying the cycle-to-cycle rate factors (1 if none)."""
    if factors is None:
        return [f"V{name} {node} 0 dc 1.0"]
    starts, values = factors
    # 1 % of the interval: a femtosecond step made the integrator collapse ("timestep too small")
    edge = 0.01 * float(starts[1] - starts[0]) if len(starts) > 1 else 1e-12
    points = [f"0 {literal('c2c', values[0])}"]
    for t, v_prev, v in zip(starts[1:], values[:-1], values[1:]):
        points.append(f"{literal('t', t - edge)} {literal('c2c', v_prev)} {literal('t', t)} {literal('c2c', v)}")
    lines = [f"V{name} {node} 0 pwl("]
    lines += [f"+ {p}" for p in points]
    lines.append("+ )")
    return lines
