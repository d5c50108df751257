"""A chain of standard-cell inverters: the first real SKY130 testbench of the runtime.

Pure builder: parameters + technology in, subcircuit text out (no simulation, no file I/O).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .netlist import Subckt, check_int, check_name, check_number, fmt
from .technology import Technology

__all__ = ["InverterChainParams", "inverter_chain"]


@dataclass(frozen=True)
class InverterChainParams:
    """Structure of the chain."""

    stages: int = field(default=4, metadata={"unit": "-", "doc": "number of inverters (>= 1)"})
    cell: str = field(default="inv_1", metadata={"unit": "-", "doc": "standard cell used for every stage"})
    load_F: float = field(default=5e-15, metadata={"unit": "F", "doc": "capacitance on the chain output"})


def inverter_chain(p: InverterChainParams, tech: Technology) -> Subckt:
    """``.subckt inv_chain_<n>_<cell> in out vdd vss``: ``p.stages`` cells, output loaded by ``p.load_F``."""
    stages = check_int("stages", p.stages, min_value=1, max_value=200)
    cell = tech.stdcell_name(check_name("cell", p.cell))
    load = check_number("load_F", p.load_F, min_value=0.0, max_value=1e-9)
    netlist = tech.stdcell_netlist(cell)
    name = f"inv_chain_{stages}_{cell[len(tech.stdcell_prefix):]}"
    nodes = ["in"] + [f"n{i}" for i in range(1, stages)] + ["out"]
    lines = [f".subckt {name} in out vdd vss"]
    for i in range(stages):
        # sky130_fd_sc_hd inverter pins: A VGND VNB VPB VPWR Y
        lines.append(f"X{i + 1} {nodes[i]} vss vss vdd vdd {nodes[i + 1]} {cell}")
    if load > 0:
        lines.append(f"Cload out vss {fmt(load)}")
    lines.append(f".ends {name}")
    return Subckt(name=name, ports=("in", "out", "vdd", "vss"), text="\n".join(lines), includes=(str(netlist),))
