"""circuits.layout: transistors, diffusions and contacts read from the foundry's cell layouts (GDS),
checked against the schematic netlists (a small LVS), the SKY130 layout rules, and the junction
geometry that circuits.parasitics estimates from connectivity alone."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from circuits import layout, parasitics
from circuits.cell_netlist import read_cell
from circuits.netlist import NetlistValueError

# the facts-sheet cells and every other foundry cell the engine instantiates
CELLS = ("inv_1", "fa_1", "ha_1", "and2_4", "buf_8", "nand2_1", "xnor2_1", "mux2_1", "inv_4", "buf_1")


def _paths(tech, cell):
    spice = Path(tech.stdcell_source_netlist(cell))
    return spice, spice.with_suffix(".gds")


@pytest.mark.parametrize("cell", CELLS)
def test_every_schematic_transistor_is_in_the_layout(sky130_tech, cell):
    spice, gds = _paths(sky130_tech, cell)
    netlist = read_cell(spice)
    cell_layout = layout.extract(gds)
    pairing = layout.match(netlist, cell_layout)
    assert len(cell_layout.devices) == len(netlist.transistors) == len(pairing.devices)
    assert len({id(d) for d, _, _ in pairing.devices.values()}) == len(netlist.transistors)  # one-to-one
    for t in netlist.transistors:
        device, d_k, s_k = pairing.devices[t.name]
        # the diffusion on the drain side is on the drain's net, the source's on the source's
        side_net = {device.left: device.left_net, device.right: device.right_net}
        assert (pairing.nets[side_net[d_k]], pairing.nets[side_net[s_k]]) == (t.drain, t.source)


@pytest.mark.parametrize("cell", CELLS)
def test_internal_nets_pair_as_magic_named_them(sky130_tech, cell):
    """An independent check of the net pairing: the PDK's netlists were extracted by Magic, which
    names an internal net a_X_Y# after the lower-left corner of its first shape, in 5 nm units.  The
    layout net paired with a_X_Y# must have a shape at (5 X, 5 Y) nm."""
    spice, gds = _paths(sky130_tech, cell)
    netlist = read_cell(spice)
    cell_layout = layout.extract(gds)
    to_layout = {s: l for l, s in layout.match(netlist, cell_layout).nets.items()}
    named = [net for net in to_layout if re.fullmatch(r"a_-?\d+_-?\d+#", net)]
    assert named or cell in ("inv_1", "inv_4")
    for net in named:
        x, y = (int(v) for v in net[2:-1].split("_"))
        assert to_layout[net] in cell_layout.nets_at(5 * x, 5 * y), net


def test_layout_rules_seen_in_the_diffusions(sky130_tech):
    """inv_1: each side of each gate a contacted diffusion ending the strip. Its length beyond the
    gate is licon-to-gate 0.055 + licon 0.17 + enclosure 0.035..0.04 (rules licon.11, licon.1,
    licon.5): 0.26..0.265 um; area = that x W."""
    cell_layout = layout.extract(_paths(sky130_tech, "inv_1")[1])
    for d in cell_layout.devices:
        assert 0.255 <= d.sa_um <= 0.27 and 0.255 <= d.sb_um <= 0.27
        for k in (d.left, d.right):
            diff = cell_layout.diffusions[k]
            assert diff.area_um2 == pytest.approx(d.sa_um * d.w_um, rel=0.05)
            assert diff.perimeter_um == pytest.approx(2 * d.sa_um + 2 * d.w_um, rel=0.05)
            # licons at 0.34 um pitch with 0.06 um end enclosure fit (W - 0.12 + 0.17) / 0.34 times
            assert diff.contacts == int((d.w_um - 0.12 + 0.17) / 0.34 + 1e-9)


def test_a_strip_of_fingers_has_growing_diffusion_lengths(sky130_tech):
    """buf_8: 11 gates in one strip (3 input + 8 output fingers) on each implant; finger i sits
    0.26 + i x 0.42 um from one end (poly pitch = L 0.15 + contacted diffusion 0.27)."""
    cell_layout = layout.extract(_paths(sky130_tech, "buf_8")[1])
    for kind in "np":
        near = sorted(min(d.sa_um, d.sb_um) for d in cell_layout.devices if d.kind == kind)
        far = sorted(max(d.sa_um, d.sb_um) for d in cell_layout.devices if d.kind == kind)
        assert len(near) == 11
        assert np.diff(near[::2]).tolist() == pytest.approx([0.42] * 5, abs=0.011)  # pairs: one from each end
        assert near[0] == pytest.approx(0.26, abs=0.006) and far[-1] == pytest.approx(0.26 + 10 * 0.42, abs=0.02)


# total source/drain junction area of a cell, estimated from connectivity / read from the layout
# (measured: inv_1 1.02, nand2_1 0.99, buf_1 1.00, buf_8 0.96, and2_4 0.84, inv_4 0.84, fa_1 0.86,
# ha_1 0.77, xnor2_1 0.70, mux2_1 0.67): the estimate is exact for single-finger cells and low for
# cells whose layout widens diffusions to share contacts between unrelated devices
JUNCTION_AREA_RANGE = {"inv_1": (0.97, 1.05), "nand2_1": (0.95, 1.03), "buf_1": (0.97, 1.03), "buf_8": (0.90, 1.0),
                       "and2_4": (0.80, 0.90), "inv_4": (0.80, 0.90), "fa_1": (0.80, 0.90), "ha_1": (0.72, 0.82),
                       "xnor2_1": (0.65, 0.75), "mux2_1": (0.62, 0.72)}


@pytest.mark.parametrize("cell", sorted(JUNCTION_AREA_RANGE))
def test_estimated_junctions_against_the_layout(sky130_tech, cell):
    """circuits.parasitics infers each diffusion's shape from connectivity alone; the layout has the
    real ones.  The ratio of the cell totals is pinned to its measured range, so that a change of
    either side shows."""
    spice, gds = _paths(sky130_tech, cell)
    netlist = read_cell(spice)
    estimated = parasitics.junctions(netlist, parasitics.SKY130_HD)
    from_layout = parasitics.layout_junctions(spice, netlist, parasitics.SKY130_HD)
    total = {name: sum(j.ad + j.as_ for j in geometry.values()) for name, geometry in
             (("estimated", estimated), ("layout", from_layout))}
    cell_layout = layout.extract(gds)
    assert total["layout"] == pytest.approx(sum(d.area_um2 for d in cell_layout.diffusions.values()))
    low, high = JUNCTION_AREA_RANGE[cell]
    assert low <= total["estimated"] / total["layout"] <= high


def test_contact_resistors_in_the_derived_netlist(sky130_tech, tmp_path):
    """buf_8's output fingers share one n+ diffusion per pair with a single licon: each such
    diffusion reaches its net through the whole contact resistance."""
    spice, _ = _paths(sky130_tech, "buf_8")
    model = parasitics.SKY130_HD_LAYOUT
    text = parasitics.parasitic_netlist_text(spice, model, 5.52)
    resistors = [line.split() for line in text.splitlines() if line.startswith("Rlicon")]
    assert len(resistors) == 24  # every source/drain diffusion of the two 11-gate strips has contacts
    n_values = sorted(float(r[3]) for r in resistors if float(r[3]) in (91.0, 182.0))
    assert n_values.count(182.0) == 11 and n_values.count(91.0) == 1
    nodes = {r[1] for r in resistors}
    moved = [line.split() for line in text.splitlines() if line.startswith("X")]
    assert all(tok[1] in nodes and tok[3] in nodes for tok in moved)
    # without contact resistances: no resistor and no terminal moved; the estimated model has none
    plain = parasitics.parasitic_netlist_text(spice, dataclasses.replace(model, contact_ohm_n=0.0, contact_ohm_p=0.0), 5.52)
    assert "Rlicon" not in plain and "licon_sd" not in plain
    assert "Rlicon" not in parasitics.parasitic_netlist_text(spice, parasitics.SKY130_HD, 5.52)


def test_contact_resistances_are_the_pdks(sky130_tech):
    """The per-contact resistances of the layout model are the PDK's typical rcn / rcp (the
    resistances of its mrcn / mrcp contact models), read here from the PDK's own file."""
    models = Path(sky130_tech.library).parent
    candidates = list(models.rglob("res_typical__cap_typical.spice")) + \
        list(models.parent.rglob("res_typical__cap_typical.spice"))
    text = candidates[0].read_text()
    values = dict(re.findall(r"^\+\s*(rcn|rcp)\s*=\s*([0-9.]+)", text, flags=re.M))
    assert float(values["rcn"]) == parasitics.SKY130_HD_LAYOUT.contact_ohm_n
    assert float(values["rcp"]) == parasitics.SKY130_HD_LAYOUT.contact_ohm_p


def test_a_transistor_with_drain_and_source_on_one_net_keeps_both_diffusions(sky130_tech):
    """decap_4's capacitors have drain and source on the same net: each side keeps its own
    diffusion (and its own contacts)."""
    spice, gds = _paths(sky130_tech, "decap_4")
    netlist = read_cell(spice)
    pairing = layout.match(netlist, layout.extract(gds))
    same = [t for t in netlist.transistors if t.drain == t.source]
    assert same
    for t in same:
        _device, d_k, s_k = pairing.devices[t.name]
        assert d_k != s_k


def test_a_layout_that_is_not_the_netlist_is_refused(sky130_tech, tmp_path):
    spice, gds = _paths(sky130_tech, "inv_1")
    wrong = tmp_path / "sky130_fd_sc_hd__inv_1.spice"
    wrong.write_text(spice.read_text().replace("w=650000u", "w=420000u"))
    with pytest.raises(layout.LayoutMismatch, match="X0"):
        layout.match(read_cell(wrong), layout.extract(gds))
    other = read_cell(_paths(sky130_tech, "buf_1")[0])
    with pytest.raises(layout.LayoutMismatch):
        layout.match(other, layout.extract(gds))
    # nand2_1 with its inputs swapped: same devices, but A and B drive the other gates
    spice, gds = _paths(sky130_tech, "nand2_1")
    swapped = tmp_path / "sky130_fd_sc_hd__nand2_1.spice"
    swapped.write_text(re.sub(r" (A|B) ", lambda m: " B " if m.group(1) == "A" else " A ", spice.read_text()))
    assert read_cell(swapped).transistors != read_cell(spice).transistors
    with pytest.raises(layout.LayoutMismatch):
        layout.match(read_cell(swapped), layout.extract(gds))


def _record(kind: int, datatype: int, body: bytes = b"") -> bytes:
    return (4 + len(body)).to_bytes(2, "big") + bytes((kind, datatype)) + body


def _gds(*structures: list[bytes]) -> bytes:
    """A GDS library of the given structures (each a list of element records)."""
    units = bytes.fromhex("3E4189374BC6A7EF") + bytes.fromhex("3944B82FA09B5A54")  # 1e-3 um, 1e-9 m
    out = _record(0x00, 2, (600).to_bytes(2, "big")) + _record(0x01, 2, bytes(24)) + _record(0x02, 6, b"lib\0")
    out += _record(0x03, 5, units)
    for i, elements in enumerate(structures):
        out += _record(0x05, 2, bytes(24)) + _record(0x06, 6, f"s{i}".encode())
        out += b"".join(elements) + _record(0x07, 0)
    return out + _record(0x04, 0)


def _box(layer: int, datatype: int, x0: int, y0: int, x1: int, y1: int) -> bytes:
    xy = b"".join(v.to_bytes(4, "big", signed=True) for v in (x0, y0, x1, y0, x1, y1, x0, y1, x0, y0))
    return (_record(0x08, 0) + _record(0x0D, 2, layer.to_bytes(2, "big")) + _record(0x0E, 2, datatype.to_bytes(2, "big"))
            + _record(0x10, 3, xy) + _record(0x11, 0))


def test_gds_reader_on_a_file_made_here(tmp_path):
    """One n transistor drawn by hand: diffusion 1.0 x 0.65 um, a 0.15 um poly line across it."""
    path = tmp_path / "one.gds"
    path.write_bytes(_gds([_box(65, 20, 0, 0, 1000, 650), _box(66, 20, 425, -130, 575, 780), _box(93, 44, -125, -125, 1125, 775)]))
    unit_m, elements = layout.read_gds(path)
    assert unit_m == pytest.approx(1e-9) and len(elements) == 3
    (device,) = layout.extract(path).devices
    assert (device.kind, device.w_um, device.l_um) == ("n", 0.65, 0.15)
    assert device.sa_um == pytest.approx(0.425) and device.sb_um == pytest.approx(0.425)
    diffusions = layout.extract(path).diffusions
    assert sorted(d.area_um2 for d in diffusions.values()) == pytest.approx([0.425 * 0.65] * 2)
    assert all(d.contacts == 0 and d.gates == 1 for d in diffusions.values())


def _text(layer: int, x: int, y: int, text: str) -> bytes:
    xy = x.to_bytes(4, "big", signed=True) + y.to_bytes(4, "big", signed=True)
    body = text.encode() + (b"\0" if len(text) % 2 else b"")
    return (_record(0x0C, 0) + _record(0x0D, 2, layer.to_bytes(2, "big")) + _record(0x16, 2, (5).to_bytes(2, "big"))
            + _record(0x10, 3, xy) + _record(0x19, 6, body) + _record(0x11, 0))


@pytest.mark.parametrize("name, refused", [("A", True), ("VGND", False)])
def test_one_label_on_two_unconnected_pieces(tmp_path, name, refused):
    """A signal label on two pieces that the cell does not connect is an open and refused; split
    supply rails are joined (the LVS convention: they meet where the cell is placed)."""
    path = tmp_path / f"{name}.gds"
    path.write_bytes(_gds([_box(65, 20, 0, 0, 1000, 650), _box(66, 20, 425, -130, 575, 780),
                           _box(67, 20, 0, 1000, 300, 1300), _box(67, 20, 700, 1000, 1000, 1300),
                           _text(67, 100, 1100, name), _text(67, 800, 1100, name)]))
    if refused:
        with pytest.raises(layout.LayoutMismatch, match="two unconnected nets"):
            layout.extract(path)
    else:
        cell_layout = layout.extract(path)
        li1 = cell_layout.nets_at(100, 1100) | cell_layout.nets_at(800, 1100)
        assert li1 == {"VGND"}


def test_a_gds_that_is_not_one_flat_cell_is_refused(tmp_path):
    two = tmp_path / "two.gds"
    two.write_bytes(_gds([_box(65, 20, 0, 0, 100, 100)], [_box(65, 20, 0, 0, 100, 100)]))
    with pytest.raises(layout.LayoutMismatch, match="one flat structure"):
        layout.read_gds(two)


def test_contact_resistors_need_the_layout(sky130_tech, tmp_path):
    spice = tmp_path / "cell.spice"
    spice.write_text(_paths(sky130_tech, "inv_1")[0].read_text())
    with pytest.raises(NetlistValueError, match="cell.gds is missing") as info:
        parasitics.parasitic_netlist_text(spice, parasitics.SKY130_HD_LAYOUT, 1.38)
    assert info.value.field == "parasitics"  # an input error: one line, exit 2 on the command line
