"""The Stanford-PKU filament-gap RRAM model (Jiang, Yu, Wong et al., published model v1.0.0).

Equations (V = V(te) - V(be); positive V shrinks the gap g = SET; g in metres):

    I      = I0 * exp(-g/g0) * sinh(V/V0)
    dg/dt  = -Vel0 * exp(-q*Ea/(k*T)) * sinh(gamma * a0/tox * q*V/(k*T))
    gamma  = gamma0 - beta * (g/1nm)^3,  and gamma = 0 while gamma*|V|/tox < F_min
    T      = T0 + |V*I| * Rth                      (steady-state self-heating)
    g      clamped to [gap_min, gap_max]

ngspice realisation (behavioural sources only; Debian's ngspice has no OSDI):

* the gap lives on an internal node ``gd`` in nanometres, as the deviation from ``gap_ini``:
  a 1 nF capacitor fed by a current equal to dg/dt in m/s (1 nF * 1e9 nm/m = 1), so the DC
  operating point starts at g = gap_ini without ``uic``; a 1e15 ohm resistor only gives the node
  a DC path (time constant 1e6 s);
* the clamp is the published hard clamp, realised as a rate window that falls linearly to 0 in the
  last ``0.001 nm`` before a bound, applied as ``min(rate,0)*w_low + max(rate,0)*w_high`` (continuous
  through rate = 0: a ternary on the rate's sign made RESET fail with "timestep too small"), and the
  gap seen by the I-V equation is clipped to the bounds with ``min(max(...))`` (ngspice 39's
  B-sources return 0 for ``limit()``);
* the device voltage is clipped to +-5 V and the temperature to 3000 K inside the expressions, and
  the rate's ``sinh`` argument to +-50, so a Newton step far from the solution cannot overflow
  (a 64-cell write deck hit "3.99e+233 out of range" with a +-40 limit on V/V0 alone); the
  limits lie far outside any physical operating point;
* the published step "gamma = 0 while gamma*|V|/tox < F_min" is a linear ramp over the last 0.5 %
  below the threshold (full gamma at and above it, as published): the step made slow RESETs near
  the threshold chatter into "timestep too small";
* every number is a literal formatted from Python (no brace parameters in B expressions).

The third port carries g in metres as a voltage.
"""
from __future__ import annotations

import numpy as np

from .base import ModelParameterError, ParameterSet, RRAMModel, clip, literal, neg_safe, pwl_factor_source

__all__ = ["STANFORD_PKU", "K_B_EV"]

K_B_EV = 8.617333262e-5  # Boltzmann constant in eV/K (q*V/(k*T) = V/(K_B_EV*T))
EDGE_NM = 1e-3  # width of the rate window at the gap bounds
V_CLIP = 5.0  # |V| above which the device voltage is clipped inside the expressions (V)
T_MAX = 3000.0  # filament temperature clip (K), far above any physical operating point
FIELD_RAMP = 0.005  # the F_min cut-off of gamma ramps from 0 to 1 over this fraction below the threshold

DEFAULTS = {
    "I0": 1e-3, "g0": 0.25e-9, "V0": 0.25, "Vel0": 10.0, "Ea": 0.6, "a0": 0.25e-9, "tox": 12e-9,
    "gamma0": 16.0, "beta": 0.8, "F_min": 1.4e9, "Rth": 2.1e3, "T0": 298.0,
    "gap_min": 0.2e-9, "gap_max": 1.7e-9, "gap_ini": 1.7e-9,
}
UNITS = {
    "I0": "A", "g0": "m", "V0": "V", "Vel0": "m/s", "Ea": "eV", "a0": "m", "tox": "m", "gamma0": "-",
    "beta": "-", "F_min": "V/m", "Rth": "K/W", "T0": "K", "gap_min": "m", "gap_max": "m", "gap_ini": "m",
}

SETS = {
    "default": ParameterSet(
        "default", {},
        "Stanford-PKU RRAM model v1.0.0 published defaults (Jiang et al., SISPAD 2014 / the "
        "Stanford nanoelectronics group release); gap_ini = gap_max (device starts in HRS)."),
    "sky130-1t1r": ParameterSet(
        "sky130-1t1r",
        {"I0": 2e-5, "F_min": 0.7e9, "Ea": 0.3, "Vel0": 2.0, "gap_min": 0.3e-9},
        "ours (not a fabricated device): the published defaults with five values changed so that a 1.8 V "
        "SKY130 access NMOS can SET and RESET the cell and a 0.2 V read cannot disturb it: F_min = 0.7e9 V/m "
        "(published 1.4e9; halves the field threshold, tox stays 12 nm), I0 = 2e-5 A (published 1e-3; a "
        "smaller read current), gap_min = 0.3 nm (published 0.2 nm), Ea = 0.3 eV (published 0.6) and "
        "Vel0 = 2.0 m/s (published 10) so that switching takes 1-100 ns at 0.8-1.2 V across the device. "
        "At 0.2 V: R_on ~ 37.4 kOhm, R_off ~ 10.1 MOhm, R_off/R_on at 0.2 V ~ 270."),
}


def _current(v, g, p):
    return p["I0"] * np.exp(-g / p["g0"]) * np.sinh(np.clip(v / p["V0"], -40, 40))


def _iv_expression(p: dict, gap_m: float, v: str) -> str:
    i0, v0, g0 = (neg_safe(literal(k, p[k])) for k in ("I0", "V0", "g0"))
    factor = literal("I0*exp(-g/g0)", p["I0"] * float(np.exp(-gap_m / p["g0"])))
    return f"{factor}*sinh({clip(v, -V_CLIP, V_CLIP)}/{v0})"


def _writer(name: str, p: dict, factors) -> str:
    for key in ("g0", "V0", "tox", "a0", "Vel0", "T0", "I0"):
        if p[key] <= 0:
            raise ModelParameterError(key, p[key], "must be > 0")
    n = lambda key: neg_safe(literal(key, p[key]))  # noqa: E731
    nm = lambda key: neg_safe(literal(key, p[key] * 1e9))  # noqa: E731  (lengths in nm inside the subckt)
    gmin, gmax, gini, g0 = nm("gap_min"), nm("gap_max"), nm("gap_ini"), nm("g0")
    # the device voltage is clipped to +-V_CLIP in every expression (exact below it): a Newton
    # excursion to 1e100 V must not reach the exponentials
    vte = clip("v(te,be)", -V_CLIP, V_CLIP)
    i0, v0 = n("I0"), n("V0")
    current = f"{i0}*exp(-v(gn)/{g0})*sinh({vte}/{v0})"
    a0_over_tox = literal("a0/tox", p["a0"] / p["tox"])
    field_factor = literal("F_min*tox", p["F_min"] * p["tox"])  # gamma*|V|/tox < F_min <=> gamma*|V| < F_min*tox
    ramp = literal("ramp", FIELD_RAMP * p["F_min"] * p["tox"])
    kb = literal("k_B", K_B_EV)
    edge = literal("edge", EDGE_NM)
    thermal = f"({kb}*v(tk))"
    rate_arg = clip(f"v(ga)*{a0_over_tox}*{vte}/{thermal}", -50, 50)
    window_down = clip(f"(v(gn)-{gmin})/{edge}", 0, 1)
    window_up = clip(f"({gmax}-v(gn))/{edge}", 0, 1)
    lines = [
        f".subckt {name} te be state",
        "* Stanford-PKU RRAM v1.0.0 (bdpe rram_models): " + " ".join(f"{k}={literal(k, v)}" for k, v in p.items()),
        "Cgd gd 0 1e-9",
        "Rgd gd 0 1e15",
        f"Bgn gn 0 V={clip(gini + '+v(gd)', gmin, gmax)}",
        "Bst state 0 V=1e-9*v(gn)",
        f"Bi te be I={current}",
        f"Btk tk 0 V=min({n('T0')}+{n('Rth')}*abs({vte}*{current}),{literal('T_max', T_MAX)})",
        f"Bgc gc 0 V={n('gamma0')}-{n('beta')}*v(gn)*v(gn)*v(gn)",
        # gamma = 0 below the field threshold; the cut-off ramps over FIELD_RAMP of F_min*tox instead
        # of jumping (a jump made slow RESETs chatter at the threshold: "timestep too small" at 0.6 V)
        f"Bga ga 0 V=v(gc)*{clip(f'(v(gc)*abs({vte})-{field_factor})/{ramp}+1', 0, 1)}",
        f"Bgr gr 0 V=-{n('Vel0')}*exp(-{n('Ea')}/{thermal})*sinh({rate_arg})",
        f"Bg 0 gd I=v(cf)*(min(v(gr),0)*{window_down}+max(v(gr),0)*{window_up})"
    ]
    lines += pwl_factor_source("cf", "cf", factors)
    lines.append(f".ends {name}")
    return "\n".join(lines)


STANFORD_PKU = RRAMModel(
    name="stanford-pku",
    description="Stanford-PKU filament-gap RRAM model v1.0.0 (state = gap in m; positive V SETs)",
    params=DEFAULTS, units=UNITS, parameter_sets=SETS, state_name="gap", state_unit="m",
    _writer=_writer, _current=_current, _iv_expression=_iv_expression, state_bounds_names=("gap_min", "gap_max"),
    state_initial_name="gap_ini", set_polarity=1,
)
