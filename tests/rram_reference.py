"""Independent references for the RRAM models: the published equations integrated with scipy.

Written from the papers' equations, not from ``rram_models`` (which writes ngspice text): the
tests compare the two. The device voltage is solved implicitly with the series resistance
(V_applied = V + I(V, state) * R_series) at every right-hand-side evaluation.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

K_B_EV = 8.617333262e-5


def spku_current(v, g, p):
    return p["I0"] * math.exp(-g / p["g0"]) * math.sinh(v / p["V0"])


def spku_rate(v, g, p):
    i = spku_current(v, g, p)
    temp = p["T0"] + abs(v * i) * p["Rth"]
    gamma = p["gamma0"] - p["beta"] * (g / 1e-9) ** 3
    if gamma * abs(v) / p["tox"] < p["F_min"]:
        gamma = 0.0
    rate = -p["Vel0"] * math.exp(-p["Ea"] / (K_B_EV * temp)) * math.sinh(gamma * p["a0"] / p["tox"] * v / (K_B_EV * temp))
    if (g <= p["gap_min"] and rate < 0) or (g >= p["gap_max"] and rate > 0):
        return 0.0
    return rate


def vteam_current(v, x, p):
    frac = (x - p["x_on"]) / (p["x_off"] - p["x_on"])
    if p["iv_exponential"]:
        r = p["R_on"] * math.exp(math.log(p["R_off"] / p["R_on"]) * frac)
    else:
        r = p["R_on"] + (p["R_off"] - p["R_on"]) * frac
    return v / r


def vteam_rate(v, x, p):
    if v >= p["v_off"]:
        rate = p["k_off"] * (v / p["v_off"] - 1) ** p["alpha_off"] * math.exp(-math.exp((x - p["a_off"]) / p["w_c"]))
    elif v <= p["v_on"]:
        rate = p["k_on"] * (v / p["v_on"] - 1) ** p["alpha_on"] * math.exp(-math.exp(-(x - p["a_on"]) / p["w_c"]))
    else:
        rate = 0.0
    if (x <= p["x_on"] and rate < 0) or (x >= p["x_off"] and rate > 0):
        return 0.0
    return rate


def device_voltage(v_applied, state, current, p, r_series):
    if r_series == 0 or v_applied == 0:
        return v_applied
    f = lambda v: v + current(v, state, p) * r_series - v_applied  # noqa: E731
    lo, hi = sorted((0.0, v_applied))
    return brentq(f, lo, hi, xtol=1e-12, rtol=1e-12)


def integrate(model: str, p: dict, v_of_t, t_stop: float, r_series: float, state0: float,
              max_step: float, t_eval=None):
    """(t, state, device voltage) of one device driven by ``v_of_t`` through ``r_series``."""
    current, rate = (spku_current, spku_rate) if model == "stanford-pku" else (vteam_current, vteam_rate)
    lo, hi = (p["gap_min"], p["gap_max"]) if model == "stanford-pku" else (p["x_on"], p["x_off"])

    def rhs(t, y):
        s = min(max(y[0], lo), hi)
        v = device_voltage(v_of_t(t), s, current, p, r_series)
        return [rate(v, s, p)]

    sol = solve_ivp(rhs, (0.0, t_stop), [state0], method="LSODA", max_step=max_step, rtol=1e-8,
                    atol=1e-9 * (hi - lo), t_eval=t_eval)
    s = np.clip(sol.y[0], lo, hi)
    v = np.array([device_voltage(v_of_t(t), si, current, p, r_series) for t, si in zip(sol.t, s)])
    return sol.t, s, v


def pulse(amplitude: float, delay: float, rise: float, width: float):
    """Trapezoidal pulse: 0 until delay, ramp over rise, flat for width, ramp down over rise."""
    def v(t):
        if t <= delay:
            return 0.0
        if t < delay + rise:
            return amplitude * (t - delay) / rise
        if t <= delay + rise + width:
            return amplitude
        if t < delay + 2 * rise + width:
            return amplitude * (1 - (t - delay - rise - width) / rise)
        return 0.0
    return v
