"""The transistors of a standard cell and the logic function they compute.

:func:`read_cell` parses a cell's SPICE netlist (``.subckt NAME PINS`` and one ``X``/``M`` line
per transistor: drain gate source bulk model ``w=`` ``l=``) into a :class:`CellNetlist`.  Widths
and lengths are kept in the netlist's own unit: with SKY130's ``.option scale=1.0u`` the text
``w=650000u`` is 0.65 of the scale unit, i.e. 0.65 um.

:func:`evaluate` reads the cell's function from that netlist by a switch-level evaluation, with
no simulator: supplies and inputs are fixed levels; an NMOS conducts when its gate is 1, a PMOS
when its gate is 0; a net takes the level of the fixed nets it is connected to through conducting
transistors.  Nets start unknown and the evaluation repeats until nothing changes.  A net is
known only when it is certain: connected to exactly one level through transistors that surely
conduct, and to no other level through transistors that might (a gate still unknown).  A net
driven to both levels (a fight) or to none (floating, e.g. a tristate output or a latch's stored
state) stays unknown (``None``).  That is exact for static CMOS and pass-gate logic, which is
every combinational cell of sky130_fd_sc_hd; a sequential cell's state nodes stay unknown, so its
data pins never sensitize an output and a timing arc of it is refused.

:func:`sensitizing_states` enumerates the states of the other inputs and keeps those in which
toggling one input toggles an output (and whether the output follows the input or inverts it).
"""
from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

__all__ = ["Transistor", "CellNetlist", "ArcState", "read_cell", "evaluate", "sensitizing_states",
           "SUPPLY_LEVELS", "spice_value"]

# sky130_fd_sc_hd supply pins: VPWR/VPB at 1, VGND/VNB at 0 (as circuits.stdcells connects them)
SUPPLY_LEVELS = MappingProxyType({"VGND": 0, "VNB": 0, "VPB": 1, "VPWR": 1})

_SUFFIX = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}
_VALUE_RE = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(meg|[tgkmunpf])?\Z", re.I)


def spice_value(text: str) -> float:
    """A SPICE number with an optional scale suffix (``650000u`` -> 0.65); ValueError otherwise."""
    match = _VALUE_RE.match(text.strip())
    if not match:
        raise ValueError(f"not a SPICE number: {text!r}")
    return float(match.group(1)) * _SUFFIX.get((match.group(2) or "").lower(), 1.0)


@dataclass(frozen=True)
class Transistor:
    """One transistor of a cell: terminal nets, model, type (``n``/``p``), W and L (netlist units)."""

    name: str
    drain: str
    gate: str
    source: str
    bulk: str
    model: str
    kind: str
    w: float
    l: float


@dataclass(frozen=True)
class CellNetlist:
    """A cell's subcircuit: its name, port order and transistors."""

    name: str
    pins: tuple[str, ...]
    transistors: tuple[Transistor, ...]

    @property
    def nets(self) -> tuple[str, ...]:
        """Every net (pins first, then internal nets in order of appearance)."""
        seen = dict.fromkeys(self.pins)
        for t in self.transistors:
            seen.update(dict.fromkeys((t.drain, t.gate, t.source, t.bulk)))
        return tuple(seen)


def _transistor(tokens: list[str], path: Path) -> Transistor:
    name, drain, gate, source, bulk, model = tokens[:6]
    sizes = dict(tok.split("=", 1) for tok in tokens[6:] if "=" in tok)
    kind = "n" if "nfet" in model.lower() else "p" if "pfet" in model.lower() else ""
    if not kind or "w" not in sizes or "l" not in sizes:
        raise ValueError(f"{path}: {name} is not a transistor with w= and l= ({' '.join(tokens)})")
    return Transistor(name, drain, gate, source, bulk, model, kind,
                      spice_value(sizes["w"]), spice_value(sizes["l"]))


@functools.lru_cache(maxsize=1024)
def read_cell(path: Path) -> CellNetlist:
    """The cell netlist in ``path`` (one ``.subckt`` of transistors)."""
    name, pins, transistors = None, (), []
    for raw in Path(path).read_text().splitlines():
        tokens = raw.split()
        if not tokens or tokens[0].startswith("*"):
            continue
        head = tokens[0].lower()
        if head == ".subckt":
            name, pins = tokens[1], tuple(tokens[2:])
        elif head[0] in "xm" and name is not None:
            transistors.append(_transistor(tokens, Path(path)))
    if name is None:
        raise ValueError(f"{path}: no .subckt line")
    return CellNetlist(name, pins, tuple(transistors))


def _component_levels(nets, fixed: Mapping[str, int], edges) -> dict[str, set]:
    """The fixed levels each non-fixed net reaches through ``edges`` (conducting transistors).

    A fixed net (a supply or an input) is an ideal source: it drives what it touches but never
    connects two other nets (VPWR reaching an output and VGND reaching it are two drivers, not one
    net), so edges join non-fixed nets only (union-find) and a fixed end only adds its level."""
    parent = {net: net for net in nets if net not in fixed}

    def root(net):
        while parent[net] != net:
            parent[net] = parent[parent[net]]
            net = parent[net]
        return net

    touches = []
    for a, b in edges:
        if a in fixed and b in fixed:
            continue
        if a in fixed or b in fixed:
            touches.append((b, fixed[a]) if a in fixed else (a, fixed[b]))
            continue
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
    found: dict[str, set] = {}
    for net, level in touches:
        found.setdefault(root(net), set()).add(level)
    return {net: found.get(root(net), set()) for net in parent}


def _step(cell: CellNetlist, fixed: Mapping[str, int], values: Mapping[str, int | None]) -> dict:
    """One evaluation pass: the level of every non-fixed net given the current gate levels."""
    level = {**values, **fixed}
    sure, maybe = [], []
    for t in cell.transistors:
        g = level[t.gate]
        on = None if g is None else (g == 1) == (t.kind == "n")
        if on:
            sure.append((t.drain, t.source))
        if on is not False:
            maybe.append((t.drain, t.source))
    strong = _component_levels(cell.nets, fixed, sure)
    weak = _component_levels(cell.nets, fixed, maybe)
    new = {}
    for net in values:
        s, w = strong[net], weak[net]
        new[net] = next(iter(s)) if len(s) == 1 and s == w else None
    return new


def evaluate(cell: CellNetlist, inputs: Mapping[str, int],
             supplies: Mapping[str, int] = SUPPLY_LEVELS) -> dict[str, int | None]:
    """Level (0, 1 or None = unknown) of every net of ``cell`` with ``inputs`` (pin -> 0/1) applied."""
    fixed = {pin: int(level) for pin, level in {**supplies, **inputs}.items() if pin in cell.pins}
    values: dict[str, int | None] = {net: None for net in cell.nets if net not in fixed}
    for _ in range(len(values) + 2):
        new = _step(cell, fixed, values)
        if new == values:
            break
        values = new
    return {**values, **fixed}


@dataclass(frozen=True)
class ArcState:
    """A state of the side inputs in which an arc is sensitive: ``side`` = ((pin, level), ...);
    ``positive`` when the output follows the input (positive unate), else it inverts it."""

    side: tuple[tuple[str, int], ...]
    positive: bool

    @property
    def label(self) -> str:
        return " ".join(f"{pin}={level}" for pin, level in self.side) or "-"


def sensitizing_states(cell: CellNetlist, inputs: tuple[str, ...], pin: str, output: str) -> tuple[ArcState, ...]:
    """Every state of ``inputs`` other than ``pin`` (in binary order, first input most significant)
    in which ``output`` is known for both levels of ``pin`` and differs between them."""
    others = tuple(i for i in inputs if i != pin)
    states = []
    for levels in itertools.product((0, 1), repeat=len(others)):
        side = dict(zip(others, levels))
        low = evaluate(cell, {**side, pin: 0})[output]
        high = evaluate(cell, {**side, pin: 1})[output]
        if low is not None and high is not None and low != high:
            states.append(ArcState(tuple(side.items()), positive=high == 1))
    return tuple(states)
