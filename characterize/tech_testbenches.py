"""Technology testbenches: ``fo4`` (the fan-out-of-4 inverter delay of a technology's ``inv_1``).

FO4: a chain of five ``inv_1`` stages, each output loaded by four ``inv_1`` inputs (the next stage
plus three copies whose outputs carry four ``inv_1`` inputs of their own, so every load sees the
same Miller coupling as the chain).  The first two stages shape the edge; the delay is measured on
stage 3 (50 % in -> 50 % out), averaged over the rising and falling output.  References
(architecture.md, measured with bare devices): FreePDK45 VTG at Nangate45 INV_X1 sizes, 1.1 V:
14.4 ps; SKY130 sc_hd inv_1 sizes at 1.8 V: 83 ps.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from circuits.netlist import fmt
from circuits.stdcells import stdcell_instance
from circuits.technology import TECHNOLOGIES, Technology, get_technology

from . import measure as m
from .runtime import Probe, SimResult, SimSpec, Tran
from .testbench import Testbench

__all__ = ["FO4TB", "FO4"]

_STAGES = 5
_MEASURED = 3  # stage whose delay is reported (input n2 -> output n3)


def _f(default, unit, doc, **extra):
    return field(default=default, metadata={"unit": unit, "doc": doc, **extra})


@dataclass(frozen=True)
class FO4TB:
    """Testbench parameters of ``fo4``."""

    technology: str = _f("sky130", "-", "technology", choices=tuple(t for t in TECHNOLOGIES if t != "ideal"))
    corner: str = _f("tt", "-", "process corner (of the technology)", choices=("tt", "ss", "ff", "sf", "fs"))
    vdd: float = _f(0.0, "V", "supply voltage (0: the technology's nominal, 1.8 V sky130, 1.1 V freepdk45)",
                    min_value=0.0, max_value=1.98)
    temperature_C: float = _f(27.0, "degC", "temperature", min_value=-40.0, max_value=125.0)


def _vdd(p: FO4TB, tech: Technology) -> float:
    return tech.vdd_nominal_V if p.vdd == 0 else tech.check_vdd(p.vdd)


def _period(tech: Technology) -> float:
    return 2e-9 if tech.vdd_nominal_V > 1.5 else 1e-9


def _build_fo4(p: FO4TB, tech: Technology) -> SimSpec:
    tech.check_corner(p.corner)
    vdd = _vdd(p, tech)
    period = _period(tech)
    lines = [f'.include "{tech.stdcell_netlist("inv_1")}"', f"Vdd vdd 0 dc {fmt(vdd)}",
             f"Vin n0 0 pulse(0 {fmt(vdd)} {fmt(period / 10)} {fmt(period / 50)} {fmt(period / 50)} "
             f"{fmt(period / 2 - period / 50)} {fmt(period)})"]
    for k in range(1, _STAGES + 1):
        lines.append(stdcell_instance(tech, "inv_1", f"s{k}", {"A": f"n{k - 1}", "Y": f"n{k}"}, vss="0"))
        for j in range(3):  # three more loads on n{k-1}, each itself loaded by four
            lines.append(stdcell_instance(tech, "inv_1", f"l{k}_{j}", {"A": f"n{k - 1}", "Y": f"d{k}_{j}"}, vss="0"))
            for i in range(4):
                lines.append(stdcell_instance(tech, "inv_1", f"ll{k}_{j}_{i}", {"A": f"d{k}_{j}", "Y": f"e{k}_{j}_{i}"},
                                              vss="0"))
    # the last stage's output carries four loads too
    for j in range(4):
        lines.append(stdcell_instance(tech, "inv_1", f"tail{j}", {"A": f"n{_STAGES}", "Y": f"t{j}"}, vss="0"))
    probes = tuple(Probe(f"n{k}", "v", f"n{k}") for k in range(_STAGES + 1)) + (Probe("i_vdd", "i", "Vdd"),)
    return SimSpec(deck="\n".join(lines), analysis=Tran(step_s=period / 5000, stop_s=1.1 * period, max_step_s=period / 2000),
                   probes=probes, technology=tech, corner=p.corner, temperature_C=p.temperature_C,
                   label=f"fo4 {tech.name} {p.corner} vdd={vdd:g} {p.temperature_C:g}C")


def _measure_fo4(p: FO4TB, r: SimResult) -> dict:
    tech = get_technology(p.technology)
    vdd, period = _vdd(p, tech), _period(tech)
    t = r["time"]
    a, y = r[f"n{_MEASURED - 1}"], r[f"n{_MEASURED}"]
    # stage 3 input: n0 rises first, so n2 rises with it, n3 falls
    fall = m.delay(t, a, y, vdd, "rise", "fall", after=period / 20)
    rise = m.delay(t, a, y, vdd, "fall", "rise", after=period / 2)
    return {"fo4_delay_s": 0.5 * (rise + fall), "fo4_rise_s": rise, "fo4_fall_s": fall, "vdd_V": vdd,
            "energy_per_cycle_J": m.supply_energy(t, np.full_like(t, vdd), r["i_vdd"], period / 20, period * 1.05)}


FO4 = Testbench(
    name="fo4", technology="sky130",
    description="fan-out-of-4 delay of the technology's inv_1 (stage 3 of a 5-stage FO4 chain)",
    params_type=FO4TB, build=_build_fo4, measure=_measure_fo4,
    units={"fo4_delay_s": "s", "fo4_rise_s": "s", "fo4_fall_s": "s", "vdd_V": "V", "energy_per_cycle_J": "J"},
)
