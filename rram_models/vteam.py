"""VTEAM: the voltage-threshold adaptive memristor model (Kvatinsky, Ramadan, Friedman, Kolodny,
IEEE TCAS-II 2015).

State x in metres, x_on <= x <= x_off (x_on = low resistance). V = V(te) - V(be):

    dx/dt = k_off * (V/v_off - 1)^alpha_off * f_off(x)   for 0 < v_off <= V
          = 0                                             for v_on < V < v_off
          = k_on  * (V/v_on  - 1)^alpha_on  * f_on(x)    for V <= v_on < 0
    f_off(x) = exp(-exp((x - a_off)/w_c)),  f_on(x) = exp(-exp(-(x - a_on)/w_c))   (window)
    linear I-V:      I = V / (R_on + (R_off - R_on) * (x - x_on)/(x_off - x_on))
    exponential I-V: I = V / (R_on * exp(lambda * (x - x_on)/(x_off - x_on))), lambda = ln(R_off/R_on)

``iv_exponential`` selects the variant (0 linear, 1 exponential). Negative V switches ON (SET).
x is clamped to [x_on, x_off] like the Stanford-PKU gap (rate window over the last 1e-3 nm).
The ngspice realisation follows the same conventions as :mod:`rram_models.stanford_pku`
(state in nm on an internal 1 nF node, literal numbers, limited exponentials).
"""
from __future__ import annotations

import numpy as np

from .base import ModelParameterError, ParameterSet, RRAMModel, clip, literal, neg_safe, pwl_factor_source

__all__ = ["VTEAM"]

EDGE_NM = 1e-3

DEFAULTS = {
    "k_off": 5e-4, "k_on": -10.0, "alpha_off": 1.0, "alpha_on": 3.0, "v_off": 0.02, "v_on": -0.2,
    "R_on": 50.0, "R_off": 1e3, "x_on": 0.0, "x_off": 3e-9, "a_on": 0.0, "a_off": 3e-9, "w_c": 1e-10,
    "x_ini": 3e-9, "iv_exponential": 0.0,
}
UNITS = {
    "k_off": "m/s", "k_on": "m/s", "alpha_off": "-", "alpha_on": "-", "v_off": "V", "v_on": "V",
    "R_on": "ohm", "R_off": "ohm", "x_on": "m", "x_off": "m", "a_on": "m", "a_off": "m", "w_c": "m",
    "x_ini": "m", "iv_exponential": "-",
}

SETS = {
    "default": ParameterSet(
        "default", {},
        "VTEAM paper defaults (Kvatinsky et al. 2015, fitted to the Pickett TiO2 model: k_off 5e-4 m/s, "
        "k_on -10 m/s, alpha_off 1, alpha_on 3, v_off 0.02 V, v_on -0.2 V, R_on 50 ohm, R_off 1 kohm, "
        "D = 3 nm); the window parameters a_on = x_on, a_off = x_off, w_c = 0.1 nm are our choice, "
        "the paper leaves them to the user."),
    "exponential": ParameterSet(
        "exponential", {"iv_exponential": 1.0},
        "the paper defaults with the exponential I-V variant"),
    "sky130-1t1r": ParameterSet(
        "sky130-1t1r",
        {"R_on": 1e4, "R_off": 2e6, "v_off": 0.7, "v_on": -0.7, "k_off": 0.5, "k_on": -0.5,
         "alpha_off": 3.0, "alpha_on": 3.0, "iv_exponential": 1.0},
        "ours (not a fabricated device): thresholds at +-0.7 V so a 0.2 V read cannot switch the "
        "cell and a 1.8 V access NMOS can; R_on 10 kohm / R_off 2 Mohm (ratio 200) with the "
        "exponential I-V; k chosen for ~10 ns switching at 1.2 V across the device."),
}


def _resistance(x, p):
    frac = (x - p["x_on"]) / (p["x_off"] - p["x_on"])
    if p["iv_exponential"]:
        return p["R_on"] * np.exp(np.log(p["R_off"] / p["R_on"]) * frac)
    return p["R_on"] + (p["R_off"] - p["R_on"]) * frac


def _current(v, x, p):
    return v / _resistance(x, p)


def _iv_expression(p: dict, x_m: float, v: str) -> str:
    return f"{v}/{literal('R(x)', float(_resistance(x_m, p)))}"


def _writer(name: str, p: dict, factors) -> str:
    checks = [("v_off", p["v_off"] > 0), ("v_on", p["v_on"] < 0), ("k_off", p["k_off"] > 0),
              ("k_on", p["k_on"] < 0), ("R_on", 0 < p["R_on"] < p["R_off"]), ("w_c", p["w_c"] > 0),
              ("x_off", p["x_off"] > p["x_on"]), ("iv_exponential", p["iv_exponential"] in (0.0, 1.0))]
    for key, ok in checks:
        if not ok:
            raise ModelParameterError(key, p[key], "is out of its range (v_off > 0 > v_on, k_off > 0 > k_on, "
                                      "0 < R_on < R_off, x_on < x_off, w_c > 0, iv_exponential 0 or 1)")
    n = lambda key: neg_safe(literal(key, p[key]))  # noqa: E731
    nm = lambda key: neg_safe(literal(key, p[key] * 1e9))  # noqa: E731  (lengths in nm inside the subckt)
    xon, xoff, xini, wc = nm("x_on"), nm("x_off"), nm("x_ini"), nm("w_c")
    span = literal("x_off-x_on", (p["x_off"] - p["x_on"]) * 1e9)
    frac = f"((v(xn)-{xon})/{span})"
    if p["iv_exponential"]:
        lam = literal("lambda", float(np.log(p["R_off"] / p["R_on"])))
        resistance = f"({n('R_on')}*exp({lam}*{frac}))"
    else:
        resistance = f"({n('R_on')}+{literal('R_off-R_on', p['R_off'] - p['R_on'])}*{frac})"
    vte = clip("v(te,be)", -5.0, 5.0)  # exact below 5 V; keeps Newton excursions finite
    f_off = "exp(-exp(" + clip(f"(v(xn)-{nm('a_off')})/{wc}", -50, 50) + "))"
    f_on = "exp(-exp(" + clip(f"-(v(xn)-{nm('a_on')})/{wc}", -50, 50) + "))"
    rate_off = f"{n('k_off')}*pow(max({vte}/{n('v_off')}-1,0),{n('alpha_off')})*{f_off}"
    rate_on = f"{n('k_on')}*pow(max({vte}/{n('v_on')}-1,0),{n('alpha_on')})*{f_on}"
    edge = literal("edge", EDGE_NM)
    window_down = clip(f"(v(xn)-{xon})/{edge}", 0, 1)
    window_up = clip(f"({xoff}-v(xn))/{edge}", 0, 1)
    lines = [
        f".subckt {name} te be state",
        "* VTEAM (bdpe rram_models): " + " ".join(f"{k}={literal(k, v)}" for k, v in p.items()),
        "Cxd xd 0 1e-9",
        "Rxd xd 0 1e15",
        f"Bxn xn 0 V={clip(xini + '+v(xd)', xon, xoff)}",
        "Bst state 0 V=1e-9*v(xn)",
        f"Bi te be I={vte}/{resistance}",
        f"Bxr xr 0 V=({vte}>={n('v_off')}) ? {rate_off} : (({vte}<={n('v_on')}) ? {rate_on} : 0)",
        f"Bx 0 xd I=v(cf)*(min(v(xr),0)*{window_down}+max(v(xr),0)*{window_up})"
    ]
    lines += pwl_factor_source("cf", "cf", factors)
    lines.append(f".ends {name}")
    return "\n".join(lines)


VTEAM = RRAMModel(
    name="vteam",
    description="VTEAM threshold memristor model (state x in m; negative V switches ON)",
    params=DEFAULTS, units=UNITS, parameter_sets=SETS, state_name="x", state_unit="m",
    _writer=_writer, _current=_current, _iv_expression=_iv_expression, state_bounds_names=("x_on", "x_off"),
    state_initial_name="x_ini", set_polarity=-1,
)
