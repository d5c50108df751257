"""RRAM device testbenches: ``rram-iv``, ``rram-set``, ``rram-reset``, ``rram-read``.

The device is driven from a bit line ``bl`` to a source line ``sl`` either through a series
resistor (technology ``ideal``) or through an access NMOS (``access=nmos``: SKY130's nfet_01v8 by
default; ``access_technology`` and ``access_device`` pick another technology or device, e.g. the
FreePDK45 core or thick-oxide NMOS for the 45 nm write-path question). The state
trajectory (third port of the model) is converted into a resistance at the read voltage with the
model's own I-V equation in numpy, following architecture.md: SET/RESET latency = time from the
pulse start until that resistance crosses sqrt(R_on * R_off).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from circuits.netlist import NetlistValueError, check_number, fmt
from circuits.technology import Technology, get_technology
from rram_models import Variability, get_model

from . import measure as m
from .runtime import Probe, SimResult, SimSpec, Tran
from .testbench import Testbench

__all__ = ["RRAMPulseTB", "RRAMReadTB", "RRAMIVTB", "device_params", "resistance_trace"]

_MODELS = ("stanford-pku", "vteam")
_SETS = ("default", "sky130-1t1r", "exponential")
_DELAY_S = 1e-9


def _f(default, unit, doc, **extra):
    return field(default=default, metadata={"unit": unit, "doc": doc, **extra})


@dataclass(frozen=True)
class _DeviceParams:
    model: str = _f("stanford-pku", "-", "RRAM compact model", choices=_MODELS)
    parameter_set: str = _f("default", "-", "named parameter set of the model", choices=_SETS)
    v_read: float = _f(0.2, "V", "read voltage at which resistances are reported", min_value=0.01, max_value=1.0)
    r_series_ohm: float = _f(1e3, "ohm", "series resistor (access=resistor)", min_value=0.0, max_value=1e8)
    access: str = _f("resistor", "-", "series element: resistor (ideal) or an access NMOS (access_technology, "
                     "access_device)", choices=("resistor", "nmos"))
    access_technology: str = _f("sky130", "-", "technology of the access NMOS (access=nmos)", choices=("sky130", "freepdk45"))
    access_device: str = _f("nmos", "-", "device kind of the access NMOS: nmos (core: sky130 nfet_01v8, freepdk45 VTG), "
                            "nmos_lvt, nmos_hvt, nmos_thick (freepdk45 thick oxide, 2.5 V), nmos_5v (sky130 "
                            "g5v0d10v5); must exist in access_technology",
                            choices=("nmos", "nmos_lvt", "nmos_hvt", "nmos_thick", "nmos_5v"))
    nmos_w_um: float = _f(1.0, "um", "access NMOS width (access=nmos; at least the device's minimum)", min_value=0.05,
                          max_value=100.0)
    nmos_l_um: float = _f(0.0, "um", "access NMOS length (0: the device's minimum)", min_value=0.0, max_value=10.0)
    wl_V: float = _f(1.8, "V", "access NMOS gate voltage (access=nmos; at most the device's voltage limit)",
                     min_value=0.0, max_value=5.5)
    corner: str = _f("tt", "-", "process corner of the access NMOS (sky130: tt ss ff sf fs; freepdk45: tt ss ff)",
                     choices=("tt", "ss", "ff", "sf", "fs"))
    seed: int = _f(0, "-", "variability seed (recorded in the results)", min_value=0, max_value=2**31 - 1)
    d2d_sigma: float = _f(0.0, "-", "device-to-device lognormal sigma on the rate/I-V prefactors", min_value=0.0, max_value=0.5)
    c2c_sigma: float = _f(0.0, "-", "cycle-to-cycle lognormal sigma on the switching rate", min_value=0.0, max_value=1.0)

    @property
    def technology(self) -> str:
        return self.access_technology if self.access == "nmos" else "ideal"

    def __post_init__(self):
        if self.access != "nmos":
            return
        tech = get_technology(self.access_technology)
        if self.access_device not in tech.devices:
            raise NetlistValueError("access_device", self.access_device, f"is not a device of {tech.name} "
                                    f"({', '.join(k for k in tech.devices if k.startswith('nmos'))})")
        tech.check_corner(self.corner)
        check_number("nmos_w_um", self.nmos_w_um, min_value=tech.min_width_um.get(self.access_device, 0.0))
        if self.nmos_l_um:
            check_number("nmos_l_um", self.nmos_l_um, min_value=tech.min_length_um[self.access_device])
        limit = tech.device_limits_V[self.access_device]
        check_number("wl_V", self.wl_V, max_value=limit)
        amplitude = getattr(self, "amplitude_V", 0.0)  # the drain of the access device sees the pulse
        if amplitude > limit:
            raise NetlistValueError("amplitude_V", amplitude, f"exceeds the {limit:g} V limit of {tech.name} "
                                    f"{self.access_device} (access=nmos)")


def _d2d(model_name: str, sigma: float) -> tuple:
    names = ("I0", "Vel0") if model_name == "stanford-pku" else ("R_on", "k_off", "k_on")
    return tuple((n, "lognormal", sigma) for n in names) if sigma > 0 else ()


def _variability(p) -> Variability:
    return Variability(d2d=_d2d(p.model, p.d2d_sigma), c2c_sigma=p.c2c_sigma, c2c_interval_s=1e-9, seed=p.seed)


def device_params(p) -> dict:
    """The parameters of the simulated device (named set + its device-to-device draw)."""
    model = get_model(p.model)
    if p.parameter_set not in model.parameter_sets:
        raise NetlistValueError("parameter_set", p.parameter_set,
                                f"is not a parameter set of {p.model} ({', '.join(model.parameter_sets)})")
    return _variability(p).device_params(model.resolve(p.parameter_set), 0)


def _deck(p, tech: Technology, v_bl: str, v_sl: str, stop_s: float, state_override: dict) -> str:
    model = get_model(p.model)
    device_params(p)  # validates the set name
    lines = [model.subckt("rram", parameter_set=p.parameter_set, variability=_variability(p), device=0,
                          c2c_stop_s=stop_s, **state_override)]
    # bl -- Vte (0 V, a current probe) -- te -- RRAM -- mid -- series element -- sl
    lines += [f"Vbl bl 0 {v_bl}", f"Vsl sl 0 {v_sl}", "Vte bl te dc 0", "Xr te mid state rram"]
    if p.access == "nmos":
        lines += [f"Vwl wl 0 dc {fmt(p.wl_V)}",
                  f"Xacc mid wl sl 0 {tech.device(p.access_device)} w={fmt(p.nmos_w_um)} "
                  f"l={fmt(p.nmos_l_um or tech.min_length_um[p.access_device])}"]
    else:
        lines += [f"Rs mid sl {fmt(max(p.r_series_ohm, 1e-3))}"]
    return "\n".join(lines)


def resistance_trace(p, state: np.ndarray) -> np.ndarray:
    return get_model(p.model).read_resistance(state, p.v_read, device_params(p))


def _probes():
    return (Probe("bl", "v", "bl"), Probe("sl", "v", "sl"), Probe("te", "v", "te"), Probe("mid", "v", "mid"),
            Probe("state", "v", "state"), Probe("i_bl", "i", "Vbl"), Probe("i_sl", "i", "Vsl"))


# ----------------------------------------------------------------------------------------------
# rram-set / rram-reset


@dataclass(frozen=True)
class RRAMPulseTB(_DeviceParams):
    """One programming pulse (SET or RESET) on a device starting in the opposite state."""

    amplitude_V: float = _f(1.2, "V", "pulse amplitude across bl-sl (polarity chosen by the operation)", min_value=0.05, max_value=5.0)
    width_s: float = _f(1e-7, "s", "pulse flat-top width", min_value=1e-10, max_value=1e-4)
    rise_s: float = _f(1e-10, "s", "pulse rise and fall time", min_value=1e-12, max_value=1e-6)
    parameter_set: str = _f("sky130-1t1r", "-", "named parameter set of the model", choices=_SETS)


def _pulse_build(operation: str):
    def build(p: RRAMPulseTB, tech: Technology) -> SimSpec:
        model = get_model(p.model)
        sign = model.set_polarity if operation == "set" else -model.set_polarity
        stop = _DELAY_S + 2 * p.rise_s + p.width_s + 2e-9
        pulse = f"pwl(0 0 {fmt(_DELAY_S)} 0 {fmt(_DELAY_S + p.rise_s)} {{amp}} {fmt(_DELAY_S + p.rise_s + p.width_s)} {{amp}}" \
                f" {fmt(_DELAY_S + 2 * p.rise_s + p.width_s)} 0)"
        v_bl, v_sl = (pulse, "dc 0") if sign > 0 else ("dc 0", pulse)
        params = _initial_state_override(p, operation)
        deck = f".param amp={fmt(p.amplitude_V)}\n" + _deck(p, tech, v_bl, v_sl, stop, params)
        return SimSpec(deck=deck, analysis=Tran(step_s=stop / 4000, stop_s=stop, max_step_s=min(p.width_s / 400, 1e-9)),
                       probes=_probes(), technology=tech, corner=p.corner if p.access == "nmos" else None,
                       params={"amp": p.amplitude_V}, options={"reltol": 1e-4},
                       label=f"rram-{operation} {p.model}/{p.parameter_set} {p.amplitude_V:g} V {p.width_s:g} s")
    return build


def _initial_state_override(p, operation: str) -> dict:
    model = get_model(p.model)
    params = device_params(p)
    lo, hi = model.bounds(params)
    r_lo, r_hi = (float(model.read_resistance(s, p.v_read, params)) for s in (lo, hi))
    high_state = hi if r_hi > r_lo else lo
    low_state = lo if high_state == hi else hi
    return {model.state_initial_name: high_state if operation in ("set", "iv") else low_state}


def _pulse_measure(operation: str):
    def measure(p: RRAMPulseTB, r: SimResult) -> dict:
        model = get_model(p.model)
        params = device_params(p)
        t, state = r["time"], r["state"]
        resistance = model.read_resistance(state, p.v_read, params)
        r_on, r_off = model.r_on_off(p.v_read, params)
        r_mid = np.sqrt(r_on * r_off)
        direction = "fall" if operation == "set" else "rise"
        try:
            t_cross = m.crossing(t, np.log(resistance), float(np.log(r_mid)), direction, after=_DELAY_S)
            switching = t_cross - _DELAY_S
        except m.MeasurementNotFound:
            switching = float("nan")
        end = t[-1]
        energy = (m.supply_energy(t, r["bl"], r["i_bl"], 0.0, end) + m.supply_energy(t, r["sl"], r["i_sl"], 0.0, end))
        v_dev = r["te"] - r["mid"]
        flat = (t > _DELAY_S + p.rise_s) & (t < _DELAY_S + p.rise_s + p.width_s)
        return {
            "switching_time_s": switching,
            "switched": float(np.isfinite(switching)),
            "state_initial": float(state[0]),
            "state_final": float(state[-1]),
            "r_initial_ohm": float(resistance[0]),
            "r_final_ohm": float(resistance[-1]),
            "r_on_ohm": r_on,
            "r_off_ohm": r_off,
            "energy_J": energy,
            "device_voltage_max_V": float(np.max(np.abs(v_dev[flat]))) if flat.any() else float("nan"),
            "seed": float(p.seed),
        }
    return measure


_PULSE_UNITS = {"switching_time_s": "s", "switched": "-", "state_initial": "m", "state_final": "m",
                "r_initial_ohm": "ohm", "r_final_ohm": "ohm", "r_on_ohm": "ohm", "r_off_ohm": "ohm",
                "energy_J": "J", "device_voltage_max_V": "V", "seed": "-"}

RRAM_SET, RRAM_RESET = (Testbench(
    name=f"rram-{_op}", technology="ideal",
    description=f"RRAM {_op.upper()} pulse from {'HRS' if _op == 'set' else 'LRS'}: switching time "
                "(resistance at v_read crossing sqrt(R_on*R_off)), final resistance, pulse energy",
    params_type=RRAMPulseTB, build=_pulse_build(_op), measure=_pulse_measure(_op), units=_PULSE_UNITS,
) for _op in ("set", "reset"))


# ----------------------------------------------------------------------------------------------
# rram-read: repeated read pulses (read disturb)


@dataclass(frozen=True)
class RRAMReadTB(_DeviceParams):
    """``n_pulses`` read pulses at ``v_read`` on a device in ``state``."""

    parameter_set: str = _f("sky130-1t1r", "-", "named parameter set of the model", choices=_SETS)
    state: str = _f("lrs", "-", "initial state: lrs or hrs", choices=("lrs", "hrs"))
    n_pulses: int = _f(1000, "-", "number of read pulses", min_value=1, max_value=100000)
    width_s: float = _f(5e-9, "s", "read pulse width", min_value=1e-10, max_value=1e-5)
    period_s: float = _f(1e-8, "s", "read pulse period", min_value=2e-10, max_value=1e-4)
    pulse_V: float = _f(0.0, "V", "read pulse amplitude across bl-sl (0: use v_read)", min_value=0.0, max_value=3.0)


def _build_read(p: RRAMReadTB, tech: Technology) -> SimSpec:
    if p.period_s <= p.width_s + 2e-10:
        raise NetlistValueError("period_s", p.period_s, f"must exceed width_s + 0.2 ns ({p.width_s + 2e-10:g})")
    amplitude = p.pulse_V or p.v_read
    edge = 1e-10
    stop = _DELAY_S + p.n_pulses * p.period_s
    sign = get_model(p.model).set_polarity  # read in the SET direction (the one that disturbs an HRS)
    pulse = f"pulse(0 {{amp}} {fmt(_DELAY_S)} {fmt(edge)} {fmt(edge)} {fmt(p.width_s)} {fmt(p.period_s)})"
    v_bl, v_sl = (pulse, "dc 0") if sign > 0 else ("dc 0", pulse)
    override = _initial_state_override(p, "set" if p.state == "hrs" else "reset")
    deck = f".param amp={fmt(amplitude)}\n" + _deck(p, tech, v_bl, v_sl, stop, override)
    return SimSpec(deck=deck, analysis=Tran(step_s=p.period_s / 20, stop_s=stop, max_step_s=p.width_s / 4),
                   probes=_probes(), technology=tech, corner=p.corner if p.access == "nmos" else None,
                   params={"amp": amplitude}, timeout_s=600.0,
                   label=f"rram-read {p.model}/{p.parameter_set} {p.state} {p.n_pulses} x {amplitude:g} V")


def _read_current(p: RRAMReadTB, r: SimResult, k: int) -> float:
    t0 = _DELAY_S + k * p.period_s + 1e-10
    a, b = t0 + 0.25 * p.width_s, t0 + 0.75 * p.width_s
    current = -m.window_mean(r["time"], r["i_bl"] if get_model(p.model).set_polarity > 0 else r["i_sl"], a, b)
    v_dev = m.window_mean(r["time"], r["te"] - r["mid"], a, b)
    return abs(v_dev / current)


def _measure_read(p: RRAMReadTB, r: SimResult) -> dict:
    resistance = resistance_trace(p, r["state"])
    r_first, r_last = _read_current(p, r, 0), _read_current(p, r, p.n_pulses - 1)
    return {
        "r_start_ohm": float(resistance[0]),
        "r_end_ohm": float(resistance[-1]),
        "state_change_rel": float(abs(resistance[-1] - resistance[0]) / resistance[0]),
        "r_read_first_ohm": r_first,
        "r_read_last_ohm": r_last,
        "read_change_rel": abs(r_last - r_first) / r_first,
        "seed": float(p.seed),
    }


RRAM_READ = Testbench(
    name="rram-read", technology="ideal",
    description="RRAM read disturb: resistance before/after n read pulses (from the state and from the read current)",
    params_type=RRAMReadTB, build=_build_read, measure=_measure_read,
    units={"r_start_ohm": "ohm", "r_end_ohm": "ohm", "state_change_rel": "-", "r_read_first_ohm": "ohm",
           "r_read_last_ohm": "ohm", "read_change_rel": "-", "seed": "-"},
)


# ----------------------------------------------------------------------------------------------
# rram-iv: quasi-static triangular sweep (pinched hysteresis)


@dataclass(frozen=True)
class RRAMIVTB(_DeviceParams):
    """Triangular sweep 0 -> +v_set -> 0 -> -v_reset -> 0 (signs follow the model's SET polarity)."""

    parameter_set: str = _f("sky130-1t1r", "-", "named parameter set of the model", choices=_SETS)
    v_set_V: float = _f(1.6, "V", "sweep amplitude in the SET direction", min_value=0.05, max_value=5.0)
    v_reset_V: float = _f(1.6, "V", "sweep amplitude in the RESET direction", min_value=0.05, max_value=5.0)
    period_s: float = _f(2e-6, "s", "duration of the whole sweep", min_value=1e-9, max_value=1e-2)


def _build_iv(p: RRAMIVTB, tech: Technology) -> SimSpec:
    sign = get_model(p.model).set_polarity
    q = p.period_s / 4
    a, b = sign * p.v_set_V, -sign * p.v_reset_V
    t = [0.0, _DELAY_S, _DELAY_S + q, _DELAY_S + 2 * q, _DELAY_S + 3 * q, _DELAY_S + 4 * q]
    v = [0.0, 0.0, a, 0.0, b, 0.0]
    pos = " ".join(f"{fmt(ti)} {fmt(max(vi, 0.0))}" for ti, vi in zip(t, v))
    neg = " ".join(f"{fmt(ti)} {fmt(max(-vi, 0.0))}" for ti, vi in zip(t, v))
    stop = t[-1] + _DELAY_S
    deck = _deck(p, tech, f"pwl({pos})", f"pwl({neg})", stop, _initial_state_override(p, "iv"))
    return SimSpec(deck=deck, analysis=Tran(step_s=p.period_s / 4000, stop_s=stop, max_step_s=p.period_s / 2000),
                   probes=_probes(), technology=tech, corner=p.corner if p.access == "nmos" else None,
                   options={"reltol": 1e-4}, timeout_s=300.0,
                   label=f"rram-iv {p.model}/{p.parameter_set} +{p.v_set_V:g}/-{p.v_reset_V:g} V")


def _measure_iv(p: RRAMIVTB, r: SimResult) -> dict:
    model = get_model(p.model)
    params = device_params(p)
    t, state = r["time"], r["state"]
    v_dev = (r["te"] - r["mid"]) * model.set_polarity  # positive = SET direction
    current = model.current(r["te"] - r["mid"], state, params) * model.set_polarity
    lo, hi = model.bounds(params)
    moved = np.abs(state - state[0]) > 0.02 * (hi - lo)
    q = p.period_s / 4
    first_half = t <= _DELAY_S + 2 * q
    set_idx = np.nonzero(moved & first_half)[0]
    set_threshold = float(v_dev[set_idx[0]]) if len(set_idx) else float("nan")
    mid_state = state[np.searchsorted(t, _DELAY_S + 2 * q)]
    moved_back = (np.abs(state - mid_state) > 0.02 * (hi - lo)) & ~first_half
    reset_idx = np.nonzero(moved_back)[0]
    reset_threshold = float(v_dev[reset_idx[0]]) if len(reset_idx) else float("nan")
    r_after_set = float(model.read_resistance(mid_state, p.v_read, params))
    r_after_reset = float(model.read_resistance(state[-1], p.v_read, params))
    r_on, r_off = model.r_on_off(p.v_read, params)
    # pinched: the current interpolated at the instants the device voltage crosses zero
    zero_times = m.crossings(t, v_dev, 0.0)
    at_zero = np.interp(zero_times, t, current) if len(zero_times) else np.array([np.nan])
    pinch = float(np.max(np.abs(at_zero)) / np.max(np.abs(current)))
    loop_area = float(np.trapezoid(current, v_dev))  # ∮ I dV: 0 for a plain resistor
    return {
        "set_threshold_V": set_threshold,
        "reset_threshold_V": reset_threshold,
        "r_after_set_ohm": r_after_set,
        "r_after_reset_ohm": r_after_reset,
        "r_on_ohm": r_on,
        "r_off_ohm": r_off,
        "on_off_ratio": r_after_reset / r_after_set,
        "pinch_ratio": pinch,
        "loop_area_W": loop_area,
        "seed": float(p.seed),
    }


RRAM_IV = Testbench(
    name="rram-iv", technology="ideal",
    description="RRAM quasi-static triangular I-V sweep: pinched hysteresis, SET/RESET thresholds, R_on/R_off at v_read",
    params_type=RRAMIVTB, build=_build_iv, measure=_measure_iv,
    units={"set_threshold_V": "V", "reset_threshold_V": "V", "r_after_set_ohm": "ohm", "r_after_reset_ohm": "ohm",
           "r_on_ohm": "ohm", "r_off_ohm": "ohm", "on_off_ratio": "-", "pinch_ratio": "-", "loop_area_W": "W",
           "seed": "-"},
)
