"""Estimated layout parasitics of standard cells: derived copies of their SPICE netlists.

The sky130_fd_sc_hd netlists shipped with the PDK are schematic netlists: transistors with W and L
only.  They carry no source/drain junctions (AD = AS = PD = PS = 0), no length-of-diffusion
distances (SA = SB = 0: BSIM4's stress model off) and no wiring, so a cell simulated from them is
faster than the PDK's Liberty tables say (fa_1 A->COUT fall: 0.6-0.75x).
:func:`parasitic_netlist_text` adds estimates to a cell, from nothing but its netlist and width:

(a) **Diffusion geometry** of every source and drain, from the transistor's width W and the
    length E of the diffusion beyond its gate: ``AD = E * W`` and ``PD = 2 E + 2 W`` for a
    diffusion that ends at this transistor, ``PD = 2 E + W`` for one shared with a neighbour
    (the BSIM4 cards of SKY130 use ``permod = 1``: PD includes the edge along the gate, which the
    model takes out again for its own gate-edge sidewall term).  How a diffusion is shared is
    inferred from the netlist's connectivity (the layout is not read), per net and device type:

    * one source/drain of this type on the net: an unshared, contacted diffusion, E =
      ``diff_end_um`` = 0.265 um = licon-to-gate spacing 0.055 + licon 0.17 + diffusion enclosure of
      licon 0.04 (SKY130 rules licon.11, licon.1, licon.5a; it also meets the minimum diffusion
      extension beyond poly, poly.7, 0.25 um).  So is a supply net shared only by a parallel pair
      (a NAND2 pull-up: the pair shares its signal net and has the supply at both ends);
    * exactly two of this type on a net that is neither a pin nor a gate input: the uncontacted
      diffusion between two gates in series (a stack node), half of ``diff_plain_um`` = 0.21 um
      (minimum poly spacing, poly.2) each;
    * any other net with two or more: a contacted diffusion shared by two gates (fingers, parallel
      devices, supply contacts), half of ``diff_contacted_um`` = 0.28 um (licon-to-gate 0.055 +
      licon 0.17 + licon-to-gate 0.055) each.

    The same geometry gives ``SA``/``SB``, the distances from the gate to the diffusion's ends that
    BSIM4's length-of-diffusion stress model uses (the SKY130 cards have KU0/KVTH0 != 0, SAREF =
    SBREF = 3 um): E for an end, ``shared + L + diff_end_um`` across a shared diffusion (the
    neighbour taken as the strip's last device), and for f parallel fingers of one device the
    position in a strip of f (i and f - 1 - i gates from the ends).  It matters: at 0.265 um a
    W = 1 um pfet_01v8_hvt drives ~16 % more current and a W = 0.65 um nfet_01v8 ~6 % less.  As
    shipped, inv_1 rises up to 1.25x slower than its Liberty table at 25 fF and falls in 0.45x
    the time at slow inputs (a low switching threshold): a too weak PMOS, which added capacitance
    would only make worse.  The values reach the
    netlist in its own unit (SKY130's ``.option scale=1.0u``: um and um^2).

(b) **Wiring capacitance** of every signal net, to VGND (supplies have none).  Devices are counted
    as logical devices: parallel fingers (same type, gate, source and drain) once.

    * an internal net or an output: ``wire_net_F + wire_gate_F * gates + wire_sd_F *
      sources/drains`` on the net -- a route of its own plus a branch to each gate it drives;
    * an input pin (a pin that reaches gates only): ``pin_net_F + pin_gate_F_per_um * gates *
      cell width`` -- an input is routed across the cell to each of its gates.

Calibration (``scripts/calibrate_parasitics.py``; its docstring quotes the run).  The geometry of
(a) is fixed by the layout rules; only the wiring constants are fitted, on the *calibration*
cells of the facts sheet -- fa_1, and2_4, nand2_1 -- and never on the *held-out* cells inv_1, ha_1,
buf_8 (:data:`CALIBRATION_CELLS`, :data:`HELD_OUT_CELLS`).  The two input-pin constants come from
the Liberty pin capacitances (a least-squares fit: a pin's wiring adds to the charge its driver
delivers); the three internal-net constants from the Liberty cell_rise / cell_fall at the 3 x 3
grid of input transitions and loads (a minimax fit of |log(ours / Liberty)|).  Result: every delay
of the calibration cells within 9 % of the Liberty's; held out inv_1 within 11 %, ha_1 within 14 %,
buf_8 within 19 % (its output stage is 10-15 % stronger than the Liberty's even at 232 fF, where no
capacitance matters); every pin capacitance within 6 %.  The delay fit asks for ~0.6 fF per gate
branch on internal nets, more than the pin capacitances imply for input wiring (~0.1-0.3 fF per
gate): the internal constant also stands for what the estimate lacks (wire resistance, coupling,
the differences between these device models and those the Liberty was made with).

**The layout model** (:data:`SKY130_HD_LAYOUT`, mode ``layout``) reads what (a) estimates from the
foundry's own layout of the cell (:mod:`circuits.layout`, the ``.gds`` beside each netlist) and adds
what the estimate cannot know:

(c) **Contact resistance.**  Every contacted source/drain diffusion reaches its net through its
    licon contacts in parallel: ``contact_ohm_n / k`` or ``contact_ohm_p / k`` for k contacts,
    with the PDK's own per-contact values (``rcn`` = 182 ohm on n+, ``rcp`` = 600 ohm on p+:
    ``sky130_fd_pr/models/r+c/res_typical__cap_typical.spice``, the resistances of its
    ``mrcn``/``mrcp`` contact models; not fitted, typical at every corner and without their
    temperature coefficients).  The BSIM4 cards carry the channel-side series resistance
    (``rdsmod = 0``, RDSW) and no contacts.  This is what
    the estimate lacks for buf_8: its output fingers share one diffusion per pair, and an n+ one
    has a single contact (182 ohm for two fingers' current), where inv_1 has two contacts per side
    of its one finger.  AD/AS/PD/PS and SA/SB come from the layout too (the estimate's cell totals
    are 0.67-1.02 of the layout's: tests/test_layout.py).  Only the wiring constants of (b) are
    fitted again, by the same procedure on the same calibration cells.  Result: calibration cells
    within 13 % (nand2_1 12.6 %, fa_1 11.2 %, and2_4 4.3 %), held out buf_8 within 11 % (was 19 %),
    ha_1 within 11 %, inv_1 within 16 % (was 10 %).  The cells that got worse are the single-finger
    ones, and they get worse at their heaviest load, where only drive strength matters: with the
    foundry's contact resistance their drivers are weaker than the Liberty's; the estimated model
    instead leaves the multi-finger driver too strong.  Neither model meets every bound of issue 18;
    they differ most in multi-finger drivers, and the BDPE can be characterised with either.

A derived netlist keeps the cell's subcircuit name and ports, so an instance line never changes:
a deck gets parasitic cells by including the derived file instead of the original
(``Technology.with_stdcell_parasitics("estimated")`` makes ``stdcell_netlist`` return it).
:func:`parasitic_netlist` writes the file once into the model cache directory
(:func:`circuits.model_library.cache_dir`), named by a hash of its text, atomically (a reader never
sees a half-written file).
"""
from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from . import layout, model_library
from .cell_netlist import CellNetlist, Transistor, read_cell
from .netlist import NetlistValueError, fmt

__all__ = ["ParasiticModel", "Junction", "SKY130_HD", "SKY130_HD_LAYOUT", "junctions", "wire_capacitances", "input_pins",
           "CALIBRATION_CELLS", "HELD_OUT_CELLS", "layout_junctions",
           "parasitic_netlist_text", "parasitic_netlist", "PARASITIC_MODES"]

PARASITIC_MODES = ("none", "estimated", "layout")
# the facts-sheet cells (../shared/reference/sky130-liberty.md) the wiring constants are fitted to,
# and those kept out of the fit to check it (scripts/calibrate_parasitics.py, tests/test_cell_arc.py)
CALIBRATION_CELLS = ("fa_1", "and2_4", "nand2_1")
HELD_OUT_CELLS = ("inv_1", "ha_1", "buf_8")


@dataclass(frozen=True)
class ParasiticModel:
    """Constants of the estimate (see the module docstring).

    Attributes:
        name: what the model is, written into every derived netlist.
        diff_end_um: diffusion length beyond the gate of an unshared, contacted source/drain (um).
        diff_contacted_um: length of a contacted diffusion shared by two gates (um).
        diff_plain_um: length of an uncontacted diffusion between two gates in series (um).
        wire_net_F: wiring capacitance of every internal net and output (F).
        wire_gate_F: its extra wiring capacitance per gate of a logical device on the net (F).
        wire_sd_F: its extra wiring capacitance per source/drain of a logical device on the net (F).
        pin_net_F: wiring capacitance of every input pin (F).
        pin_gate_F_per_um: its extra wiring capacitance per gate on the pin, per um of cell width (F/um).
        stress: write ``sa``/``sb`` (the gate-to-diffusion-end distances) too, so that the BSIM4
            length-of-diffusion stress model of the PDK acts; False leaves them at 0 (no stress).
        contact_ohm_n, contact_ohm_p: resistance of one licon contact on n+ / p+ diffusion (ohm);
            a source/drain diffusion with k contacts reaches its net through 1/k of it (the count
            read from the cell's GDS, :mod:`circuits.layout`).  0: no contact resistors.
        junctions_from_layout: take AD/AS/PD/PS and SA/SB from the cell's GDS (each diffusion's
            area and perimeter shared equally by the gates bordering it) instead of estimating them.
        unit_m: length unit of the numbers in the cell netlists (SKY130: ``.option scale=1.0u``).
        ground_pin: the pin the wiring capacitances return to.
        supply_pins: pins that are supplies (no wiring capacitance of their own).
    """

    name: str
    diff_end_um: float
    diff_contacted_um: float
    diff_plain_um: float
    wire_net_F: float
    wire_gate_F: float
    wire_sd_F: float
    pin_net_F: float
    pin_gate_F_per_um: float
    stress: bool = True
    contact_ohm_n: float = 0.0
    contact_ohm_p: float = 0.0
    junctions_from_layout: bool = False
    unit_m: float = 1e-6
    ground_pin: str = "VGND"
    supply_pins: tuple[str, ...] = ("VGND", "VNB", "VPB", "VPWR")

    def identity(self) -> str:
        """Text identifying the model (part of every derived file's name hash)."""
        return repr(sorted(asdict(self).items()))


# The wiring constants are fitted by scripts/calibrate_parasitics.py on the calibration cells fa_1,
# and2_4 and nand2_1 (tt, 25 C, 1.8 V); that script's docstring quotes the run they come from
# (wire_sd_F: the fit's lower bound, 0).
SKY130_HD = ParasiticModel(
    name="sky130_fd_sc_hd estimated parasitics v1",
    diff_end_um=0.265, diff_contacted_um=0.28, diff_plain_um=0.21,
    wire_net_F=3.618e-17, wire_gate_F=6.171e-16, wire_sd_F=0.0,
    pin_net_F=1.203e-16, pin_gate_F_per_um=4.217e-17,
)

# The layout model (see the module docstring, (c)): junctions, stress distances and licon counts
# from the cell's GDS; contact resistances from the PDK's r+c deck (typical: rcn, rcp); the wiring
# constants fitted like SKY130_HD's (scripts/calibrate_parasitics.py --model layout quotes the run).
SKY130_HD_LAYOUT = ParasiticModel(
    name="sky130_fd_sc_hd layout parasitics v1",
    diff_end_um=0.265, diff_contacted_um=0.28, diff_plain_um=0.21,
    wire_net_F=0.0, wire_gate_F=4.068e-16, wire_sd_F=0.0,
    pin_net_F=1.189e-16, pin_gate_F_per_um=4.226e-17,
    contact_ohm_n=182.0, contact_ohm_p=600.0, junctions_from_layout=True,
)


@dataclass(frozen=True)
class Junction:
    """Source/drain geometry of one transistor, in the netlist's unit (areas unit^2, lengths unit):
    drain and source area and perimeter, and the distances ``sa`` / ``sb`` from the gate to the end
    of the diffusion on the source / drain side (BSIM4's length-of-diffusion stress parameters)."""

    ad: float
    as_: float
    pd: float
    ps: float
    sa: float
    sb: float


def _diffusions(cell: CellNetlist, supplies: tuple[str, ...]) -> dict[tuple[str, str], str]:
    """(transistor, net of its source or drain) -> ``end``, ``shared`` or ``stack``: how that
    diffusion is laid out, inferred from connectivity (see the module docstring)."""
    on_net: dict[tuple[str, str], list[Transistor]] = {}
    for t in cell.transistors:
        for net in (t.drain, t.source):
            on_net.setdefault((net, t.kind), []).append(t)
    gates = {t.gate for t in cell.transistors}
    kinds = {}
    for (net, _kind), devices in on_net.items():
        pair = len(devices) == 2 and devices[0] is not devices[1]
        other = [{t.drain, t.source} - {net} for t in devices]
        if len(devices) == 1:
            kind = "end"
        elif pair and net in supplies and other[0] == other[1]:
            kind = "end"  # a parallel pair (NAND pull-up): it shares its signal net, the supply is at both ends
        elif pair and net not in cell.pins and net not in gates:
            kind = "stack"
        else:
            kind = "shared"
        kinds.update({(t.name, net): kind for t in devices})
    return kinds


def _terminal(t: Transistor, kind: str, model: ParasiticModel) -> tuple[float, float, float]:
    """(area um^2, perimeter um, distance from the gate to the diffusion's end um) of one source or
    drain of ``t`` laid out as ``kind``.  A shared diffusion is taken to end beyond the neighbour's gate."""
    w_um, l_um = (t.w * model.unit_m / 1e-6, t.l * model.unit_m / 1e-6)
    if kind == "end":
        extension = model.diff_end_um
        return extension * w_um, 2 * extension + 2 * w_um, extension
    shared = model.diff_plain_um if kind == "stack" else model.diff_contacted_um
    extension = 0.5 * shared
    return extension * w_um, 2 * extension + w_um, shared + l_um + model.diff_end_um


def _finger_distances(cell: CellNetlist, model: ParasiticModel) -> dict[str, tuple[float, float]]:
    """(sa, sb) in um of every transistor that is one of several parallel fingers (same type, gate
    and source/drain nets): the fingers are taken to form one diffusion strip, in netlist order,
    finger i of f sitting i gates from one end and f - 1 - i from the other."""
    groups: dict[tuple, list[Transistor]] = {}
    for t in cell.transistors:
        groups.setdefault((t.kind, t.gate, frozenset((t.drain, t.source))), []).append(t)
    out = {}
    for fingers in groups.values():
        if len(fingers) < 2:
            continue
        for i, t in enumerate(fingers):
            pitch = t.l * model.unit_m / 1e-6 + model.diff_contacted_um
            out[t.name] = (model.diff_end_um + i * pitch, model.diff_end_um + (len(fingers) - 1 - i) * pitch)
    return out


def junctions(cell: CellNetlist, model: ParasiticModel) -> dict[str, Junction]:
    """Estimated junction geometry of every transistor of ``cell`` (netlist units)."""
    kinds = _diffusions(cell, model.supply_pins)
    strips = _finger_distances(cell, model)
    scale = 1e-6 / model.unit_m  # um -> netlist unit
    out = {}
    for t in cell.transistors:
        ad, pd, sb = _terminal(t, kinds[(t.name, t.drain)], model)
        as_, ps, sa = _terminal(t, kinds[(t.name, t.source)], model)
        sa, sb = strips.get(t.name, (sa, sb))
        if not model.stress:
            sa = sb = 0.0  # BSIM4: no length-of-diffusion stress (the shipped netlists' state)
        out[t.name] = Junction(ad * scale ** 2, as_ * scale ** 2, pd * scale, ps * scale, sa * scale, sb * scale)
    return out


def _devices(cell: CellNetlist) -> list[Transistor]:
    """The cell's logical devices: parallel fingers (same type, gate and source/drain nets) counted
    once -- they sit side by side and share one route to each of their nets."""
    seen: dict[tuple, Transistor] = {}
    for t in cell.transistors:
        seen.setdefault((t.kind, t.gate, frozenset((t.drain, t.source))), t)
    return list(seen.values())


def input_pins(cell: CellNetlist) -> tuple[str, ...]:
    """The cell's input pins, from its netlist alone: the pins that reach gates and no source or drain."""
    gates = {t.gate for t in cell.transistors}
    sds = {net for t in cell.transistors for net in (t.drain, t.source)}
    return tuple(p for p in cell.pins if p in gates and p not in sds)


def wire_capacitances(cell: CellNetlist, model: ParasiticModel, width_um: float) -> dict[str, float]:
    """Estimated wiring capacitance (F) of every signal net of ``cell`` (a cell ``width_um`` wide),
    in net order.  Logical devices count (parallel fingers merged, :func:`_devices`)."""
    gates: dict[str, int] = {}
    sds: dict[str, int] = {}
    for t in _devices(cell):
        gates[t.gate] = gates.get(t.gate, 0) + 1
        for net in {t.drain, t.source}:
            sds[net] = sds.get(net, 0) + 1
    pins = input_pins(cell)
    caps = {}
    for net in cell.nets:
        if net in model.supply_pins:
            continue
        if net in pins:
            caps[net] = model.pin_net_F + model.pin_gate_F_per_um * gates.get(net, 0) * width_um
        else:
            caps[net] = model.wire_net_F + model.wire_gate_F * gates.get(net, 0) + model.wire_sd_F * sds.get(net, 0)
    return caps


def _device_line(line: str, cell: CellNetlist, geometry: dict[str, Junction]) -> str:
    tokens = line.split()
    j = geometry.get(tokens[0]) if tokens else None
    if j is None or re.search(r"\b(ad|as|pd|ps|sa|sb)\s*=", line, re.I):
        return line  # not a transistor, or one that has its geometry already
    text = f"{line.rstrip()} ad={fmt(j.ad)} as={fmt(j.as_)} pd={fmt(j.pd)} ps={fmt(j.ps)}"
    return text + (f" sa={fmt(j.sa)} sb={fmt(j.sb)}" if j.sa > 0 and j.sb > 0 else "")


def _layout_of(path: Path, cell: CellNetlist, model: ParasiticModel):
    """(the cell's layout, its transistor pairing) from the ``.gds`` beside the netlist; a cell
    without a readable layout is refused as an input error (the parasitic mode is not available)."""
    gds = Path(path).with_suffix(".gds")
    if not gds.is_file():
        raise NetlistValueError("parasitics", "layout", f"is not available for {cell.name}: {gds} is missing")
    try:
        cell_layout = layout.extract(gds)
        return cell_layout, layout.match(cell, cell_layout, model.unit_m / 1e-6)
    except layout.LayoutMismatch as exc:
        raise NetlistValueError("parasitics", "layout", f"is not available for {cell.name}: {exc}") from None


def layout_junctions(path: Path, cell: CellNetlist, model: ParasiticModel) -> dict[str, Junction]:
    """Junction geometry of every transistor read from the cell's layout (netlist units): a
    diffusion's area and perimeter shared equally by the gates bordering it; SA/SB the diffusion
    length beyond the gate on the source/drain side."""
    cell_layout, pairing = _layout_of(path, cell, model)
    scale = 1e-6 / model.unit_m
    out = {}
    for t in cell.transistors:
        device, d_k, s_k = pairing.devices[t.name]
        drain, source = cell_layout.diffusions[d_k], cell_layout.diffusions[s_k]
        side_um = {device.left: device.sa_um, device.right: device.sb_um}
        sa, sb = (side_um[s_k], side_um[d_k]) if model.stress else (0.0, 0.0)
        out[t.name] = Junction(drain.area_um2 / drain.gates * scale ** 2, source.area_um2 / source.gates * scale ** 2,
                               drain.perimeter_um / drain.gates * scale, source.perimeter_um / source.gates * scale,
                               sa * scale, sb * scale)
    return out


def _contact_resistors(path: Path, cell: CellNetlist, model: ParasiticModel) -> tuple[dict, list[str]]:
    """({transistor: (node of its drain, node of its source)}, resistor lines): the licon
    resistance of every contacted source/drain diffusion, from the cell's layout (the ``.gds``
    beside the netlist; :mod:`circuits.layout`).  A diffusion without a contact (between two gates
    in series) stays on its net."""
    cell_layout, pairing = _layout_of(path, cell, model)
    ohm = {"n": model.contact_ohm_n, "p": model.contact_ohm_p}
    nodes, lines, done = {}, [], set()
    for t in cell.transistors:
        _device, d_k, s_k = pairing.devices[t.name]
        ends = []
        for net, k in ((t.drain, d_k), (t.source, s_k)):
            diff = cell_layout.diffusions[k]
            if diff.contacts == 0 or ohm[diff.kind] <= 0:
                ends.append(net)
                continue
            ends.append(f"licon_sd{k}")
            if k not in done:
                done.add(k)
                lines.append(f"Rlicon{k} licon_sd{k} {net} {fmt(ohm[diff.kind] / diff.contacts)}")
        nodes[t.name] = tuple(ends)
    return nodes, lines


def _behind_contacts(line: str, nodes: dict) -> str:
    """A transistor line with its drain / source moved behind their contact resistors."""
    tokens = line.split()
    moved = nodes.get(tokens[0]) if tokens else None
    if not moved:
        return line
    tokens[1], tokens[3] = moved  # X/M name, drain, gate, source, bulk
    return " ".join(tokens)


def parasitic_netlist_text(path: Path, model: ParasiticModel, width_um: float) -> str:
    """The netlist in ``path`` with estimated junctions on every transistor, a wiring capacitor
    on every signal net and (if the model has them) contact resistors (same subcircuit name and ports)."""
    cell = read_cell(Path(path))
    geometry = layout_junctions(Path(path), cell, model) if model.junctions_from_layout else junctions(cell, model)
    caps = wire_capacitances(cell, model, width_um)
    nodes, resistors = ({}, [])
    if model.contact_ohm_n > 0 or model.contact_ohm_p > 0:
        nodes, resistors = _contact_resistors(Path(path), cell, model)
    out = [f"* {cell.name} with {model.name} (circuits.parasitics), derived from {path}",
           f"* cell width {width_um:g} um; {model.identity()}"]
    for line in Path(path).read_text().splitlines():
        if line.strip().lower().startswith(".ends"):
            out += [f"Cpar{i} {net} {model.ground_pin} {fmt(c)}" for i, (net, c) in enumerate(caps.items()) if c > 0]
            out += resistors
        out.append(_device_line(_behind_contacts(line, nodes), cell, geometry))
    return "\n".join(out) + "\n"


@functools.lru_cache(maxsize=1024)
def _derived(path: Path, model: ParasiticModel, width_um: float) -> tuple[str, str]:
    """(text, short hash of the text) of a derived netlist: the file name follows the content, so
    a changed cell, model or estimate never reuses a stale file."""
    text = parasitic_netlist_text(path, model, width_um)
    return text, hashlib.sha256(text.encode()).hexdigest()[:20]


def parasitic_netlist(path: Path, model: ParasiticModel, width_um: float) -> Path:
    """A file holding :func:`parasitic_netlist_text` of ``path``, written once into the model cache
    directory and reused; its name hashes its text."""
    path = Path(path)
    text, digest = _derived(path, model, float(width_um))
    target = model_library.cache_dir() / f"{path.stem}-parasitics-{digest}.spice"
    if not target.is_file():
        model_library.write_atomic(target, text)
    return target
