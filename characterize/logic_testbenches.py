"""Testbenches of logic and of the runtime itself: ``inverter-chain`` (SKY130 standard cells: delay
and energy), ``inverter-leakage`` (their leakage from a DC operating point) and ``rc-step`` (an
ideal RC checked against the analytic response)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from circuits.inverter_chain import InverterChainParams, inverter_chain
from circuits.netlist import NetlistValueError, check_name, fmt
from circuits.technology import Technology

from . import measure as m
from .runtime import Op, Probe, SimResult, SimSpec, Tran
from .testbench import Testbench

__all__ = ["InverterChainTB", "InverterLeakageTB", "RCStepTB", "INVERTER_CHAIN", "INVERTER_LEAKAGE", "RC_STEP"]


# ----------------------------------------------------------------------------------------------
# inverter-chain: SKY130 standard-cell inverters, delay and energy vs VDD / corner / temperature


@dataclass(frozen=True)
class _Chain:
    """Operating point and structure of an inverter chain (shared by its testbenches)."""

    vdd: float = field(default=1.8, metadata={"unit": "V", "doc": "supply voltage", "min_value": 0.3, "max_value": 1.98})
    corner: str = field(default="tt", metadata={"unit": "-", "doc": "process corner", "choices": ("tt", "ss", "ff", "sf", "fs")})
    temperature_C: float = field(default=27.0, metadata={"unit": "degC", "doc": "temperature", "min_value": -55.0, "max_value": 150.0})
    stages: int = field(default=4, metadata={"unit": "-", "doc": "number of inverters", "min_value": 1, "max_value": 64})
    cell: str = field(default="inv_1", metadata={"unit": "-", "doc": "sky130_fd_sc_hd inverter cell"})


@dataclass(frozen=True)
class InverterChainTB(_Chain):
    """Testbench parameters of ``inverter-chain``."""

    load_F: float = field(default=5e-15, metadata={"unit": "F", "doc": "output load", "min_value": 0.0, "max_value": 1e-11})
    slew_s: float = field(default=20e-12, metadata={"unit": "s", "doc": "input 0-100 % transition time", "min_value": 1e-13, "max_value": 1e-9})
    period_s: float = field(default=2e-9, metadata={"unit": "s", "doc": "input period (one rising + one falling edge)", "min_value": 2e-10, "max_value": 1e-6})


_INVERTER_PINS = ("A", "VGND", "VNB", "VPB", "VPWR", "Y")


def _check_inverter(tech: Technology, cell: str) -> None:
    """The chain needs an inverting single-input cell: refuse e.g. ``fa_1`` or ``buf_1`` before ngspice."""
    full = tech.stdcell_name(check_name("cell", cell))
    base = full[len(tech.stdcell_prefix):].rsplit("_", 1)[0]
    if base not in ("inv", "clkinv", "clkinvlp") or tuple(tech.stdcell_pins(full)) != _INVERTER_PINS:
        raise NetlistValueError("cell", cell, "is not an inverter cell (inv_N, clkinv_N or clkinvlp_N)")


def _build_inverter_chain(p: InverterChainTB, tech: Technology) -> SimSpec:
    _check_inverter(tech, p.cell)
    chain = inverter_chain(InverterChainParams(stages=p.stages, cell=p.cell, load_F=p.load_F), tech)
    delay0 = 0.1 * p.period_s
    half = 0.5 * p.period_s
    vnom = tech.vdd_nominal_V

    def pulse(v):
        return (0.0, v, delay0, p.slew_s, p.slew_s, half - p.slew_s, p.period_s)

    # supply and input levels are swept with `alter` (no reset, no re-parse); the deck holds nominal
    deck = "\n".join(chain.include_lines() + [
        chain.text,
        f"Vdd vdd 0 dc {fmt(vnom)}",
        f"Vin in 0 pulse({' '.join(fmt(x) for x in pulse(vnom))})",
        f"Xdut in out vdd 0 {chain.name}",
    ])
    return SimSpec(
        deck=deck,
        analysis=Tran(step_s=p.period_s / 2000, stop_s=delay0 + p.period_s, max_step_s=p.period_s / 500),
        probes=(Probe("in", "v", "in"), Probe("out", "v", "out"), Probe("i_vdd", "i", "Vdd")),
        technology=tech, corner=p.corner, temperature_C=p.temperature_C,
        alters=(("vdd", "dc", p.vdd), ("vin", "pulse", pulse(p.vdd))),
        label=f"inverter-chain vdd={p.vdd:g} {p.corner} {p.temperature_C:g}C",
        # gear: under trapezoidal integration the supply current rings in the quiet window and its
        # mean read 225.9 pW at tt/27 C against 18.92 pW at the DC operating point (inverter-leakage);
        # gear reads 18.92 pW (and 226.97 vs 226.97 pW at 125 C). Delay moves by 0.01 %, energy 0.25 %.
        options={"method": "gear"},
    )


def _measure_inverter_chain(p: InverterChainTB, r: SimResult) -> dict:
    t, vin, vout, idd = r["time"], r["in"], r["out"], r["i_vdd"]
    vdd = p.vdd
    out_rise_first = p.stages % 2 == 0  # even chain: output follows input
    t_start = 0.1 * p.period_s
    d_in_rise = m.delay(t, vin, vout, vdd, "rise", "rise" if out_rise_first else "fall")
    d_in_fall = m.delay(t, vin, vout, vdd, "fall", "fall" if out_rise_first else "rise",
                        after=t_start + 0.25 * p.period_s)
    e_cycle = m.supply_energy(t, np.full_like(t, vdd), idd, t_start, t_start + p.period_s)
    # quiet window: last 20 % of the second half period (all nodes settled)
    q0, q1 = t_start + 0.8 * p.period_s, t_start + 0.98 * p.period_s
    leak = -vdd * m.window_mean(t, idd, q0, q1)
    return {
        "delay_rise_s": d_in_rise,
        "delay_fall_s": d_in_fall,
        "delay_s": 0.5 * (d_in_rise + d_in_fall),
        "energy_per_cycle_J": e_cycle,
        "leakage_power_W": leak,
        "analysis_time_s": r.analysis_time_s,
    }


INVERTER_CHAIN = Testbench(
    name="inverter-chain",
    description="SKY130 sky130_fd_sc_hd inverter chain: propagation delay and supply energy per cycle",
    params_type=InverterChainTB, build=_build_inverter_chain, measure=_measure_inverter_chain,
    units={"delay_rise_s": "s", "delay_fall_s": "s", "delay_s": "s", "energy_per_cycle_J": "J",
           "leakage_power_W": "W", "analysis_time_s": "s"},
)


# ----------------------------------------------------------------------------------------------
# inverter-leakage: the chain's static supply power from a DC operating point, input low and high


@dataclass(frozen=True)
class InverterLeakageTB(_Chain):
    """Testbench parameters of ``inverter-leakage``."""


def _build_inverter_leakage(p: InverterLeakageTB, tech: Technology) -> SimSpec:
    """Two copies of the chain, input held low and high, each on its own supply: one DC operating
    point gives the leakage of both input states (no transient, so no integration ringing)."""
    _check_inverter(tech, p.cell)
    chain = inverter_chain(InverterChainParams(stages=p.stages, cell=p.cell, load_F=0.0), tech)
    vnom = fmt(tech.vdd_nominal_V)
    deck = "\n".join(chain.include_lines() + [
        chain.text,
        f"Vdd_lo vdd_lo 0 dc {vnom}", "Vin_lo in_lo 0 dc 0", f"Xlo in_lo out_lo vdd_lo 0 {chain.name}",
        f"Vdd_hi vdd_hi 0 dc {vnom}", f"Vin_hi in_hi 0 dc {vnom}", f"Xhi in_hi out_hi vdd_hi 0 {chain.name}",
    ])
    return SimSpec(
        deck=deck, analysis=Op(),
        probes=(Probe("i_vdd_lo", "i", "Vdd_lo"), Probe("i_vdd_hi", "i", "Vdd_hi"), Probe("out_lo", "v", "out_lo")),
        technology=tech, corner=p.corner, temperature_C=p.temperature_C,
        alters=(("vdd_lo", "dc", p.vdd), ("vdd_hi", "dc", p.vdd), ("vin_hi", "dc", p.vdd)),
        label=f"inverter-leakage vdd={p.vdd:g} {p.corner} {p.temperature_C:g}C",
    )


def _measure_inverter_leakage(p: InverterLeakageTB, r: SimResult) -> dict:
    low = -p.vdd * float(np.real(r["i_vdd_lo"])[0])  # a supply delivering power has a negative current
    high = -p.vdd * float(np.real(r["i_vdd_hi"])[0])
    mean = 0.5 * (low + high)
    return {"leakage_input_low_W": low, "leakage_input_high_W": high, "leakage_mean_W": mean,
            "leakage_per_cell_W": mean / p.stages}


INVERTER_LEAKAGE = Testbench(
    name="inverter-leakage",
    description="SKY130 inverter chain leakage from a DC operating point, input low and input high "
                "(the supply's power; mean over the two states and per cell, as Liberty's cell_leakage_power)",
    params_type=InverterLeakageTB, build=_build_inverter_leakage, measure=_measure_inverter_leakage,
    units={"leakage_input_low_W": "W", "leakage_input_high_W": "W", "leakage_mean_W": "W", "leakage_per_cell_W": "W"},
)


# ----------------------------------------------------------------------------------------------
# rc-step: an ideal RC driven by a step; checks the runtime against 1 - exp(-t/RC) and C*V^2


@dataclass(frozen=True)
class RCStepTB:
    """Testbench parameters of ``rc-step`` (ideal elements, no PDK)."""

    r_ohm: float = field(default=1e3, metadata={"unit": "ohm", "doc": "series resistance", "min_value": 1e-3, "max_value": 1e12})
    c_F: float = field(default=1e-12, metadata={"unit": "F", "doc": "capacitance to ground", "min_value": 1e-18, "max_value": 1.0})
    v_step: float = field(default=1.0, metadata={"unit": "V", "doc": "step amplitude", "min_value": -1e3, "max_value": 1e3})
    rise_s: float = field(default=1e-13, metadata={"unit": "s", "doc": "step 0-100 % rise time", "min_value": 1e-18, "max_value": 1.0})
    taus: float = field(default=10.0, metadata={"unit": "-", "doc": "simulated length in time constants", "min_value": 1.0, "max_value": 100.0})
    technology: str = field(default="ideal", metadata={"unit": "-", "doc": "technology", "choices": ("ideal",)})


def _build_rc(p: RCStepTB, tech: Technology) -> SimSpec:
    tau = p.r_ohm * p.c_F
    if p.v_step == 0:
        raise NetlistValueError("v_step", p.v_step, "must be nonzero (the step response is what is measured)")
    if p.rise_s > 0.1 * tau:
        raise NetlistValueError("rise_s", p.rise_s, f"must be <= tau/10 = {0.1 * tau:g} s (else it is no step)")
    deck = "\n".join([
        f".param vstep={fmt(p.v_step)}",
        f"Vs in 0 pwl(0 0 {fmt(p.rise_s)} {{vstep}})",
        f"R1 in out {fmt(p.r_ohm)}",
        f"C1 out 0 {fmt(p.c_F)}",
    ])
    return SimSpec(deck=deck, analysis=Tran(step_s=tau / 1000, stop_s=p.taus * tau, max_step_s=tau / 1000),
                   probes=(Probe("in", "v", "in"), Probe("out", "v", "out"), Probe("i_src", "i", "Vs")),
                   technology=tech, params={"vstep": p.v_step}, options={"reltol": 1e-5},
                   label=f"rc-step R={p.r_ohm:g} C={p.c_F:g}")


def _measure_rc(p: RCStepTB, r: SimResult) -> dict:
    t, vout, vin, i = r["time"], r["out"], r["in"], r["i_src"]
    tau = p.r_ohm * p.c_F
    # a ramp of length tr is a step delayed by tr/2 once the ramp is over (to first order)
    shifted = np.clip(t - p.rise_s / 2, 0.0, None)
    reference = p.v_step * (1 - np.exp(-shifted / tau))
    settled = t > 5 * p.rise_s
    err = np.max(np.abs(vout[settled] - reference[settled])) / abs(p.v_step)
    energy = m.supply_energy(t, vin, i, 0.0, t[-1])
    return {
        "tau_s": tau,
        "t63_s": m.crossing(t, vout, (1 - np.exp(-1)) * p.v_step, "rise" if p.v_step > 0 else "fall"),
        "max_rel_error_vs_analytic": float(err),
        "supply_energy_J": energy,
        "cv2_J": p.c_F * p.v_step ** 2 * (1 - np.exp(-2 * p.taus)),
    }


RC_STEP = Testbench(
    name="rc-step", technology="ideal",
    description="ideal RC step response and supply energy (checks the runtime against analytic formulas)",
    params_type=RCStepTB, build=_build_rc, measure=_measure_rc,
    units={"tau_s": "s", "t63_s": "s", "max_rel_error_vs_analytic": "-", "supply_energy_J": "J", "cv2_J": "J"},
)
