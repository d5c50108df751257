"""A population-count tree from standard-cell full and half adders.

The tree is planned first (pure data: which adder adds which nets), so it can be checked with a
Python logic evaluation and counted for area, then written as a subcircuit of
``sky130_fd_sc_hd__fa_1`` / ``ha_1`` instances.

Planning rule (a timing-driven carry-save reduction, in the spirit of Dadda/Wallace trees): bits
are grouped by weight; at each weight the three earliest-arriving bits go into a full adder
(sum stays at this weight, carry moves up) while three or more remain; two remaining bits go into a
half adder unless they are the only bits left at that weight. Arrival time is counted in adder
levels. For 64 inputs this gives a 7-bit result.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from .netlist import Subckt, check_int
from .stdcells import stdcell_instance
from .technology import Technology

__all__ = ["Adder", "PopcountPlan", "plan_popcount", "PopcountParams", "popcount"]


@dataclass(frozen=True)
class Adder:
    kind: str  # "fa" or "ha"
    inputs: tuple[str, ...]
    sum: str
    carry: str
    level: int


@dataclass(frozen=True)
class PopcountPlan:
    inputs: tuple[str, ...]
    adders: tuple[Adder, ...]
    outputs: tuple[str, ...]  # net of weight 2^k, k = 0..; "vss" for a constant 0
    depth: int

    def evaluate(self, bits) -> int:
        """Logic value of the outputs for input bits (Python reference of the netlist)."""
        values = {"vss": 0}
        values.update({net: int(b) & 1 for net, b in zip(self.inputs, bits)})
        for a in self.adders:
            total = sum(values[n] for n in a.inputs)
            values[a.sum], values[a.carry] = total & 1, total >> 1
        return sum(values[net] << k for k, net in enumerate(self.outputs))


def plan_popcount(n_inputs: int, prefix: str = "in") -> PopcountPlan:
    n = check_int("inputs", n_inputs, min_value=2, max_value=1024)
    inputs = tuple(f"{prefix}{i}" for i in range(n))
    columns: dict[int, list[tuple[int, int, str]]] = {0: [(0, i, net) for i, net in enumerate(inputs)]}
    for col in columns.values():
        heapq.heapify(col)
    adders: list[Adder] = []
    counter = 0
    weight = 0
    outputs: list[str] = []
    while weight in columns and columns[weight]:
        col = columns[weight]
        while len(col) >= 3 or (len(col) == 2):
            take = 3 if len(col) >= 3 else 2
            picked = [heapq.heappop(col) for _ in range(take)]
            level = max(p[0] for p in picked) + 1
            counter += 1
            s, c = f"ps{counter}", f"pc{counter}"
            adders.append(Adder("fa" if take == 3 else "ha", tuple(p[2] for p in picked), s, c, level))
            heapq.heappush(col, (level, counter, s))
            columns.setdefault(weight + 1, [])
            heapq.heappush(columns[weight + 1], (level, counter, c))
        outputs.append(col[0][2])
        weight += 1
    depth = max((a.level for a in adders), default=0)
    return PopcountPlan(inputs, tuple(adders), tuple(outputs), depth)


@dataclass(frozen=True)
class PopcountParams:
    """Structure of the popcount."""

    inputs: int = field(default=64, metadata={"unit": "-", "doc": "number of input bits"})
    fa_cell: str = field(default="fa_1", metadata={"unit": "-", "doc": "full-adder standard cell"})
    ha_cell: str = field(default="ha_1", metadata={"unit": "-", "doc": "half-adder standard cell"})


def popcount(p: PopcountParams, tech: Technology, wire_caps=None) -> Subckt:
    """``.subckt popcount_<n> in0 .. in<n-1> s0 .. s<k-1> vdd vss`` from FA/HA standard cells;
    ``wire_caps`` (net -> F, :func:`circuits.wireload.popcount_wire_caps`) adds the tree's routes."""
    plan = plan_popcount(p.inputs)
    k = len(plan.outputs)
    name = f"popcount_{p.inputs}"
    ports = plan.inputs + tuple(f"s{i}" for i in range(k)) + ("vdd", "vss")
    lines = [f".subckt {name} {' '.join(ports)}",
             f"* {sum(a.kind == 'fa' for a in plan.adders)} full adders, {sum(a.kind == 'ha' for a in plan.adders)} "
             f"half adders, depth {plan.depth} adder levels"]
    for i, a in enumerate(plan.adders):
        cell = p.fa_cell if a.kind == "fa" else p.ha_cell
        pins = {"A": a.inputs[0], "B": a.inputs[1], "COUT": a.carry, "SUM": a.sum}
        if a.kind == "fa":
            pins["CIN"] = a.inputs[2]
        lines.append(stdcell_instance(tech, cell, f"A{i}", pins))
    for i, net in enumerate(plan.outputs):
        # outputs are the adder nets themselves, joined to the ports by zero-ohm-free aliases
        lines.append(f"Vout{i} s{i} {net} dc 0")
    if wire_caps:  # estimated parasitics: the tree's own routes
        from .wireload import cap_lines
        lines += cap_lines(wire_caps)
    lines.append(f".ends {name}")
    includes = tuple(str(tech.stdcell_netlist(c)) for c in (p.fa_cell, p.ha_cell))
    return Subckt(name=name, ports=ports, text="\n".join(lines), includes=includes)
