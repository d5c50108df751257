"""Technology-portable static CMOS logic cells, generated from a per-technology sizing rule.

No open 45 nm standard-cell SPICE netlists exist, so the cells the BDPE instantiates (``inv_1``,
``inv_4``, ``buf_1``, ``buf_8``, ``and2_4``, ``nand2_1``, ``nor2_1``, ``mux2_1``, ``xnor2_1``,
``fa_1``, ``ha_1``, ...) are generated here as transistor netlists with the **same names and pin
names** as the sky130_fd_sc_hd cells (``A B CIN VGND VNB VPB VPWR COUT SUM`` ...), so a technology
serves them through the ordinary ``Technology.stdcell_netlist / stdcell_pins / stdcell_size_um``
API.  :func:`generate_library` writes one ``cells/<base>/<prefix><cell>.spice`` netlist and a
minimal ``.lef`` (``SIZE`` and pin ``DIRECTION`` s) per cell into a directory of the model cache,
atomically, named by the hash of the rule and of this module's cell topologies.

Topologies (all static CMOS, every output buffered as in the foundry libraries):

* ``inv_N``: one inverter of drive N (N fingers of the unit widths);
* ``buf_N``: inverter of drive ``max(1, N // 4)`` then inverter of drive N;
* ``nand2_N``, ``nor2_N``: the usual 4-transistor gates, every device at N x the unit width
  (no stack up-sizing: the X1 cells of both SKY130 hd and Nangate45 keep unit widths in their
  2-stacks);
* ``and2_N`` / ``or2_N``: nand2 / nor2 at drive 1, then an inverter of drive N;
* ``xnor2_N``: ``n1 = NAND(A, B)``, ``Y = NOT((A + B) . n1)`` (nand2 + OAI21, 10 devices, unit
  widths), the structure of sky130_fd_sc_hd__xnor2_1; ``xor2_N``: xnor2 then an inverter;
* ``mux2_N``: ``S`` inverted, an AOI22 ``NOT(A0 . !S + A1 . S)`` at internal width, then an output
  inverter of drive N (12 devices);
* ``fa_N``: the 28-transistor mirror adder (carry ``NOT(AB + C(A+B))`` and sum
  ``NOT(ABC + !cout (A+B+C))`` at internal width, pull-up networks mirrored) and two output
  inverters of drive N;
* ``ha_N``: ``n1 = NAND(A, B)``, ``COUT = NOT(n1)``, ``x = NOT((A + B) . n1)`` (OAI21: XNOR),
  ``SUM = NOT(x)`` (14 devices).

Sizing rule (:class:`CellRule`, one per technology): unit inverter widths ``wn_um``/``wp_um`` and
the internal (non-output) stage widths ``wn_int_um``/``wp_int_um`` of the complex cells (mux, adders),
gate length ``l_um``, the device kinds of the pull-down and pull-up networks.  The SKY130 rule is
read off sky130_fd_sc_hd (inv_1 0.65/1.0 um, internal stages of fa_1/ha_1/mux2_1 at 0.42 um, PMOS
``pfet_01v8_hvt``); the FreePDK45 rule takes Nangate45's X1 inverter (0.415/0.63 um, L 50 nm) and
scales the internal width by the same ratio as SKY130 (0.42/0.65 -> 0.27 um).

Area: a cell is ``(n_columns + 1) x cpp`` wide and ``height`` high, where ``n_columns`` is the number
of transistor columns (N/P pairs, a drive-N device counting N fingers) and ``cpp`` the contacted
poly pitch.  Checked against Nangate45 (cpp 0.19 um, row 1.4 um: INV_X1 0.38 um, NAND2_X1 0.57,
AND2_X1 0.76, MUX2_X1 1.33, XNOR2_X1 1.14 wide -- the rule gives exactly those; FA_X1 is 3.04 um
wide, the rule 2.85 um: -6 %) and against sky130_fd_sc_hd (site 0.46 x 2.72 um: inv_1 1.38 wide,
the rule 0.92; fa_1 7.36, the rule 6.90: SKY130's hd cells are wider than one pitch per column, so
the SKY130 rule uses its own foundry cells for area, and this estimate only for FreePDK45).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from . import model_library
from .netlist import NetlistValueError, check_name, fmt

__all__ = ["CellRule", "CELLS", "cell_netlist_text", "cell_lef_text", "cell_columns", "generate_library",
           "generated_cell_names"]


@dataclass(frozen=True)
class CellRule:
    """The per-technology sizing rule of the generated cells (widths and lengths in um)."""

    technology: str
    nfet: str            # model (subcircuit) name of the pull-down devices
    pfet: str            # model (subcircuit) name of the pull-up devices
    wn_um: float         # unit inverter NMOS width
    wp_um: float         # unit inverter PMOS width
    wn_int_um: float     # internal (non-output) stage NMOS width of complex cells
    wp_int_um: float     # internal stage PMOS width of complex cells
    l_um: float          # gate length
    cpp_um: float        # contacted poly pitch (cell width per transistor column)
    height_um: float     # cell row height
    doc: str = ""


# cell base name -> (inputs, outputs) in port order (supplies VGND VNB VPB VPWR between them, as
# sky130_fd_sc_hd orders them: inputs, supplies, outputs)
CELLS = {
    "inv": (("A",), ("Y",)),
    "buf": (("A",), ("X",)),
    "nand2": (("A", "B"), ("Y",)),
    "nor2": (("A", "B"), ("Y",)),
    "and2": (("A", "B"), ("X",)),
    "or2": (("A", "B"), ("X",)),
    "xnor2": (("A", "B"), ("Y",)),
    "xor2": (("A", "B"), ("X",)),
    "mux2": (("A0", "A1", "S"), ("X",)),
    "fa": (("A", "B", "CIN"), ("COUT", "SUM")),
    "ha": (("A", "B"), ("COUT", "SUM")),
}
_SUPPLIES = ("VGND", "VNB", "VPB", "VPWR")
_DRIVES = (1, 2, 4, 8, 12, 16)
_CELL_RE = re.compile(r"^([a-z0-9]+?)_(\d+)$")


def _split(cell: str) -> tuple[str, int]:
    match = _CELL_RE.match(cell)
    if not match or match.group(1) not in CELLS or int(match.group(2)) not in _DRIVES:
        raise NetlistValueError("cell", cell, f"is not a generated cell ({', '.join(sorted(CELLS))}; "
                                              f"drives {', '.join(map(str, _DRIVES))})")
    return match.group(1), int(match.group(2))


class _Builder:
    """Transistor lines of one cell; widths in um."""

    def __init__(self, rule: CellRule):
        self.rule = rule
        self.lines: list[str] = []
        self.columns = 0.0

    def n(self, d: str, g: str, s: str, w: float, m: int = 1) -> None:
        self._dev(self.rule.nfet, "VNB", d, g, s, w, m)
        self.columns += m / 2

    def p(self, d: str, g: str, s: str, w: float, m: int = 1) -> None:
        self._dev(self.rule.pfet, "VPB", d, g, s, w, m)
        self.columns += m / 2

    def _dev(self, model, bulk, d, g, s, w, m):
        for k in range(m):  # one finger per line (explicit: a layout-like netlist, no m=)
            self.lines.append(f"X{len(self.lines)} {d} {g} {s} {bulk} {model} w={fmt(w)} l={fmt(self.rule.l_um)}")

    def inv(self, a: str, y: str, drive: int = 1, internal: bool = False) -> None:
        wn, wp = (self.rule.wn_int_um, self.rule.wp_int_um) if internal else (self.rule.wn_um, self.rule.wp_um)
        self.n(y, a, "VGND", wn, drive)
        self.p(y, a, "VPWR", wp, drive)

    def node(self, tag: str) -> str:
        self.count = getattr(self, "count", 0) + 1
        return f"{tag}{self.count}"

    def nand2(self, a: str, b: str, y: str, drive: int = 1) -> None:
        r = self.rule
        for _ in range(drive):
            mid = self.node("nn")
            self.n(y, a, mid, r.wn_um)
            self.n(mid, b, "VGND", r.wn_um)
        self.p(y, a, "VPWR", r.wp_um, drive)
        self.p(y, b, "VPWR", r.wp_um, drive)

    def nor2(self, a: str, b: str, y: str, drive: int = 1) -> None:
        r = self.rule
        self.n(y, a, "VGND", r.wn_um, drive)
        self.n(y, b, "VGND", r.wn_um, drive)
        for _ in range(drive):
            mid = self.node("pp")
            self.p(y, a, mid, r.wp_um)
            self.p(mid, b, "VPWR", r.wp_um)


def _xor_family(b: _Builder, base: str, drive: int, r: CellRule) -> None:
    """xnor2 (nand2 + OAI21, as sky130_fd_sc_hd's) and xor2 (the same, inverted)."""
    out = "Y" if base == "xnor2" else "xn"
    w_n, w_p = (r.wn_um * drive, r.wp_um * drive) if base == "xnor2" else (r.wn_um, r.wp_um)
    b.nand2("A", "B", "n1")
    # OAI21: Y = NOT((A + B) . n1)
    b.n(out, "n1", "o1", w_n)
    b.n("o1", "A", "VGND", w_n)
    b.n("o1", "B", "VGND", w_n)
    b.p(out, "n1", "VPWR", w_p)
    b.p(out, "B", "o2", w_p)
    b.p("o2", "A", "VPWR", w_p)
    if base == "xor2":
        b.inv("xn", "X", drive)


def _mux2(b: _Builder, base: str, drive: int, r: CellRule) -> None:
    wn, wp = r.wn_int_um, r.wp_int_um
    b.inv("S", "sb", internal=True)
    # AOI22: m = NOT(A0 . sb + A1 . S)
    b.n("m", "A0", "a0n", wn)
    b.n("a0n", "sb", "VGND", wn)
    b.n("m", "A1", "a1n", wn)
    b.n("a1n", "S", "VGND", wn)
    b.p("m", "A0", "pm", wp)
    b.p("m", "sb", "pm", wp)
    b.p("pm", "A1", "VPWR", wp)
    b.p("pm", "S", "VPWR", wp)
    b.inv("m", "X", drive)


def _full_adder(b: _Builder, base: str, drive: int, r: CellRule) -> None:
    """The 28-transistor mirror adder."""
    wn, wp = r.wn_int_um, r.wp_int_um
    # carry: cb = NOT(A.B + CIN.(A + B)); the pull-up is the same network of PMOS (mirror)
    for dev, w, rail, tag in ((b.n, wn, "VGND", "n"), (b.p, wp, "VPWR", "p")):
        dev(f"c{tag}1", "A", rail, w)
        dev(f"c{tag}1", "B", rail, w)
        dev("cb", "CIN", f"c{tag}1", w)
        dev(f"c{tag}2", "A", rail, w)
        dev("cb", "B", f"c{tag}2", w)
    # sum: sb = NOT(A.B.CIN + cout.(A + B + CIN)), cout = NOT(cb), expressed with cb
    for dev, w, rail, tag in ((b.n, wn, "VGND", "n"), (b.p, wp, "VPWR", "p")):
        dev(f"s{tag}1", "A", rail, w)
        dev(f"s{tag}1", "B", rail, w)
        dev(f"s{tag}1", "CIN", rail, w)
        dev("sb", "cb", f"s{tag}1", w)
        dev(f"s{tag}2", "A", rail, w)
        dev(f"s{tag}3", "B", f"s{tag}2", w)
        dev("sb", "CIN", f"s{tag}3", w)
    b.inv("cb", "COUT", drive)
    b.inv("sb", "SUM", drive)


def _half_adder(b: _Builder, base: str, drive: int, r: CellRule) -> None:
    b.nand2("A", "B", "n1")
    b.inv("n1", "COUT", drive)
    # x = XNOR(A, B) = NOT((A + B) . n1), at internal width; SUM = NOT(x)
    wn, wp = r.wn_int_um, r.wp_int_um
    b.n("x", "n1", "o1", wn)
    b.n("o1", "A", "VGND", wn)
    b.n("o1", "B", "VGND", wn)
    b.p("x", "n1", "VPWR", wp)
    b.p("x", "B", "o2", wp)
    b.p("o2", "A", "VPWR", wp)
    b.inv("x", "SUM", drive)


def _simple(b: _Builder, base: str, drive: int, r: CellRule) -> None:
    """inv, buf, nand2, nor2, and2, or2."""
    if base == "inv":
        b.inv("A", "Y", drive)
    elif base == "buf":
        b.inv("A", "ab", max(1, drive // 4))
        b.inv("ab", "X", drive)
    elif base == "nand2":
        b.nand2("A", "B", "Y", drive)
    elif base == "nor2":
        b.nor2("A", "B", "Y", drive)
    else:  # and2, or2: the inverted gate and an output inverter
        (b.nand2 if base == "and2" else b.nor2)("A", "B", "yb")
        b.inv("yb", "X", drive)


_BODIES = {"inv": _simple, "buf": _simple, "nand2": _simple, "nor2": _simple, "and2": _simple, "or2": _simple,
           "xnor2": _xor_family, "xor2": _xor_family, "mux2": _mux2, "fa": _full_adder, "ha": _half_adder}


def _body(base: str, drive: int, rule: CellRule) -> _Builder:
    b = _Builder(rule)
    try:
        build = _BODIES[base]
    except KeyError:  # pragma: no cover - CELLS and _BODIES list the same cells
        raise AssertionError(base) from None
    build(b, base, drive, rule)
    return b


def cell_netlist_text(cell: str, rule: CellRule, prefix: str) -> str:
    """The ``.subckt <prefix><cell> <inputs> VGND VNB VPB VPWR <outputs>`` of a generated cell."""
    base, drive = _split(check_name("cell", cell))
    inputs, outputs = CELLS[base]
    b = _body(base, drive, rule)
    name = prefix + cell
    head = [f"* {name}: generated static CMOS cell (circuits.cellgen), {rule.technology} rule",
            f".subckt {name} {' '.join(inputs + _SUPPLIES + outputs)}"]
    return "\n".join(head + b.lines + [f".ends {name}", ""])


def cell_columns(cell: str, rule: CellRule) -> float:
    """Transistor columns (N/P pairs; a finger counts one device) of a generated cell."""
    base, drive = _split(cell)
    return _body(base, drive, rule).columns


def cell_size_um(cell: str, rule: CellRule) -> tuple[float, float]:
    """(width, height) of a generated cell: ``(ceil(columns) + 1) x cpp`` by ``height`` (module docstring)."""
    columns = -(-cell_columns(cell, rule) // 1)
    return round((columns + 1) * rule.cpp_um, 6), rule.height_um


def cell_lef_text(cell: str, rule: CellRule, prefix: str) -> str:
    """A minimal LEF MACRO of a generated cell: SIZE and the pins' DIRECTIONs (no geometry)."""
    base, _ = _split(cell)
    inputs, outputs = CELLS[base]
    w, h = cell_size_um(cell, rule)
    lines = [f"MACRO {prefix}{cell}", "  CLASS CORE ;", f"  SIZE {w:.6f} BY {h:.6f} ;"]
    for pin, direction in [(p, "INPUT") for p in inputs] + [(p, "INOUT") for p in _SUPPLIES] + [(p, "OUTPUT") for p in outputs]:
        lines += [f"  PIN {pin}", f"    DIRECTION {direction} ;", f"  END {pin}"]
    lines.append(f"END {prefix}{cell}")
    return "\n".join(lines) + "\n"


def generated_cell_names() -> tuple[str, ...]:
    """Every cell :func:`generate_library` writes (each base at every drive)."""
    return tuple(f"{base}_{d}" for base in CELLS for d in _DRIVES)


def _atomic_text(path: Path, text: str) -> None:
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    model_library.write_atomic(path, text)


def generate_library(rule: CellRule, prefix: str, cache: Path) -> Path:
    """Write every generated cell (netlist + LEF) under ``cache/cellgen-<hash>/cells/<base>/`` and
    return that directory (the ``stdcell_dir`` of a technology).  Idempotent; each file is written
    atomically, so concurrent writers and readers never see a partial file."""
    digest = hashlib.sha256(repr((rule, prefix)).encode() + Path(__file__).read_bytes()).hexdigest()[:16]
    root = Path(cache) / f"cellgen-{rule.technology}-{digest}"
    stamp = root / ".complete"
    if stamp.is_file():
        return root
    for cell in generated_cell_names():
        base = cell.rsplit("_", 1)[0]
        _atomic_text(root / "cells" / base / f"{prefix}{cell}.spice", cell_netlist_text(cell, rule, prefix))
        _atomic_text(root / "cells" / base / f"{prefix}{cell}.lef", cell_lef_text(cell, rule, prefix))
    _atomic_text(stamp, "ok\n")
    return root
