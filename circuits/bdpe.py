"""The Binary Dot Product Engine at transistor level (SKY130): 1T1R array, sense amplifiers with an
XNOR datapath, a standard-cell popcount, write drivers, and an area estimate.

Design (ours: the paper publishes no circuit):

* **1T1R cell** (`cell` in every builder): RRAM (top electrode on the bit line) in series with a
  SKY130 ``nfet_01v8`` access transistor, W = 1 um, L = 0.15 um, gate on the word line, source on
  the source line. Sizing, with the ``sky130-1t1r`` Stanford-PKU set: the LRS read current at
  0.2 V is ~5 uA (R_on 37 kOhm), so the transistor (on-resistance ~1.5 kOhm at V_GS = 1.8 V) takes
  < 4 % of the read voltage; SET (BL = 1.8 V) puts ~0.9 V across the device and completes in
  ~10 ns; RESET (SL = 1.8 V) is the hard case, the transistor's source rises with the device
  voltage, and W = 1 um still leaves ~1.0 V across the device (RESET in ~2 ns, `rram-reset
  access=nmos`). A narrower device (0.42 um) fails to RESET within 100 ns at ss.
* **Array**: per column a bit line and a source line, each an RC ladder with one section per cell
  (metal-1, see :class:`ArrayParams`). Rows that are read are modelled cell by cell; the other rows
  are lumped into ``lumped_segments`` groups, each an N-fold cell (the access NMOS with ``m=N`` and
  the RRAM I-V scaled by N) behind the RC of its N sections. ``full=True`` models every row cell
  by cell; `tests/test_bdpe_circuits.py` checks the reduction against the full array.
  Read-only decks use the RRAM frozen at its state (its I-V equation only): `rram-read` shows a
  1000-pulse read at 0.2 V changes the state by < 1e-12.
* **Sense amplifier** (one per column, single-ended, voltage mode): ``pre`` connects the bit
  line to the read rail ``vpre`` (0.2 V); the word line is already on. When ``pre`` falls the bit
  line floats and the selected cell discharges it: ~5 uA for LRS against ~150 fF, i.e. ~30 mV/ns,
  ~0 for HRS. A reference bit line (replica columns with the capacitance of an all-LRS column and a
  resistor whose current at 0.2 V is the mean of the LRS and HRS currents) discharges at half the
  LRS rate. After ``t_sense`` a PMOS-input StrongARM latch (inputs near 0.2 V, hence PMOS)
  compares the two; ``q`` = 1 for a bit line below the reference (LRS = stored 1), 0 while ``sae``
  is low. The reference node is shared by all latches, so it is built from one replica column per
  sense amplifier (merged): the kick-back of n latches meets n columns of capacitance. A
  first design with a bit-line clamp and a mirrored reference current failed: the idle bit line
  floats up to the clamp's sub-threshold level and an LRS cell needs ~6 ns to pull it back down.
* **Datapath**: per bit, ``mux2_1`` selects the sensed bit (``sel`` = 0, the paper's RRAM/CHK-hit
  path) or register operand ``a`` (``sel`` = 1, the DPM path), ``xnor2_1`` with the input bit ``x``,
  then the 64-input popcount (:mod:`circuits.popcount`, fa_1/ha_1).
* **Control timing** of a read (RRAM path): bit lines idle precharged (``pre`` high); ``wl_en``
  rises at the start, ``pre`` falls after ``t_pre``, ``sae`` rises ``t_sense`` later, the popcount
  settles, then ``sae`` and ``wl_en`` fall and ``pre`` rises again. (Idle precharge matters: with
  the bit line left floating between reads, the drain junctions hidden behind the unselected HRS
  cells discharge, and recharging them through 10 MOhm during the next read looks like a 1 uA
  cell current.)
* **Write path**: per column a bit-line driver ``and2_4(PE, D)`` and a source-line driver
  ``and2_4(PE, NOT D)``, and a ``buf_8`` word-line driver: one pulse writes a 64-bit word, SET
  (BL high) where D = 1 and RESET (SL high) where D = 0, in the same cycle.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from rram_models import Variability, get_model

from . import wireload
from .netlist import NetlistValueError, Subckt, check_choice, check_int, check_number, fmt
from .popcount import PopcountParams, plan_popcount, popcount
from .stdcells import stdcell_instance
from .technology import Technology

__all__ = ["CellParams", "ArrayParams", "SenseParams", "BDPEParams", "WriteRowParams", "rram_array",
           "sense_amp", "sense_reference", "bit_slice", "bdpe", "write_row", "area_estimate", "cell_states",
           "reference_resistance", "d2d_resistance_factors", "engine_floorplan", "popcount_wire_caps"]


def _f(default, unit, doc):
    return field(default=default, metadata={"unit": unit, "doc": doc})


@dataclass(frozen=True)
class CellParams:
    """The 1T1R cell."""

    access_w_um: float = _f(1.0, "um", "access NMOS width")
    access_l_um: float = _f(0.15, "um", "access NMOS length")
    model: str = _f("stanford-pku", "-", "RRAM compact model")
    parameter_set: str = _f("sky130-1t1r", "-", "RRAM parameter set")
    v_read: float = _f(0.2, "V", "read voltage at which R_on/R_off are defined")
    window: float = _f(0.0, "-", "R_off/R_on at v_read (0: the parameter set's full window)")


def cell_states(c: CellParams) -> tuple[float, float, float, float]:
    """(LRS state, HRS state, R_on, R_off) at ``c.v_read``; ``window`` lowers the HRS state."""
    model = get_model(c.model)
    params = model.resolve(c.parameter_set)
    lo, hi = model.bounds(params)
    r_lo, r_hi = (float(model.read_resistance(s, c.v_read, params)) for s in (lo, hi))
    lrs, hrs = (lo, hi) if r_lo < r_hi else (hi, lo)
    r_on, r_off = min(r_lo, r_hi), max(r_lo, r_hi)
    window = check_number("window", c.window, min_value=0.0)
    if window:
        if not 1.0 < window <= r_off / r_on * (1 + 1e-9):
            raise NetlistValueError("window", window, f"must be within (1, {r_off / r_on:.4g}] for {c.parameter_set}")
        r_off = r_on * window
        hrs = model.state_for_resistance(r_off, c.v_read, params)
    return lrs, hrs, r_on, r_off


@dataclass(frozen=True)
class ArrayParams:
    """Array of 1T1R cells; ``words`` are the contents of the rows that are read (bit i -> column i,
    1 = LRS); the other rows hold ``background``."""

    rows: int = _f(128, "-", "rows (word lines)")
    cols: int = _f(64, "-", "columns (bits per word)")
    words: tuple[int, ...] = _f((0,), "-", "stored words of the rows modelled cell by cell (row k = words[k])")
    background: str = _f("lrs", "-", "state of the other rows (lrs = worst-case bit-line leakage)")
    lumped_segments: int = _f(2, "-", "groups the other rows are lumped into")
    full: bool = _f(False, "-", "model every row cell by cell (reduction check)")
    dynamic: bool = _f(False, "-", "full switching RRAM model in the rows of `words` (write path)")
    r_bl_per_cell_ohm: float = _f(0.82, "ohm", "bit-line metal-1 per cell: 0.92 um x 0.14 um at 0.125 ohm/sq")
    c_bl_per_cell_F: float = _f(0.18e-15, "F", "bit-line wire capacitance per cell (0.2 fF/um); junctions are in the device model")
    r_sl_per_cell_ohm: float = _f(0.82, "ohm", "source-line metal-1 per cell")
    c_sl_per_cell_F: float = _f(0.18e-15, "F", "source-line wire capacitance per cell")
    r_wl_per_cell_ohm: float = _f(1.34, "ohm", "word-line metal-1 strap per cell: 1.5 um x 0.14 um")
    c_wl_per_cell_F: float = _f(0.30e-15, "F", "word-line wire capacitance per cell; gate capacitance is in the device model")
    cell: CellParams = _f(CellParams(), "-", "the 1T1R cell")
    # device-to-device spread of the cells of the rows in `words` (static model only). Left out of
    # repr, and so of every name derived from it, while off: the netlists without spread keep
    # their names; with spread on they enter the array's key explicitly (rram_array)
    d2d_sigma: float = field(default=0.0, repr=False, metadata={
        "unit": "-", "doc": "sigma/mu of each modelled cell's read resistance (lognormal, mean = nominal; 0: none)"})
    d2d_seed: int = field(default=0, repr=False, metadata={"unit": "-", "doc": "seed of the spread (rram_models.Variability)"})
    d2d_first_device: int = field(default=0, repr=False, metadata={
        "unit": "-", "doc": "device number of row 0, column 0 (cell (k, c) is device first + k * cols + c)"})


def d2d_resistance_factors(sigma_over_mu: float, seed: int, devices) -> list[float]:
    """Read-resistance factors of the given device numbers: lognormal with mean 1 and standard
    deviation ``sigma_over_mu`` (``ln f ~ N(-s^2/2, s^2)``, ``s^2 = ln(1 + (sigma/mu)^2)``), drawn by
    :class:`rram_models.Variability` (device ``i`` of a seed always gets the same factor)."""
    cv = check_number("d2d_sigma", sigma_over_mu, min_value=0.0, max_value=1.0)
    s = math.sqrt(math.log1p(cv * cv))
    spread = Variability(d2d=(("r_scale", "lognormal", s),), seed=check_int("d2d_seed", seed, min_value=0))
    start = {"r_scale": math.exp(-0.5 * s * s)}
    return [spread.device_params(start, int(i))["r_scale"] for i in devices]


def _hash(*items) -> str:
    return hashlib.sha256(repr(items).encode()).hexdigest()[:10]


def _nfet(tech, name, d, g, s, b, w, l, m=1):  # noqa: E741
    mult = f" m={int(m)}" if m != 1 else ""
    return f"X{name} {d} {g} {s} {b} {tech.device('nmos')} w={fmt(w)} l={fmt(l)}{mult}"


def _pfet(tech, name, d, g, s, b, w, l):  # noqa: E741
    return f"X{name} {d} {g} {s} {b} {tech.device('pmos')} w={fmt(w)} l={fmt(l)}"


def rram_array(p: ArrayParams, tech: Technology) -> tuple[Subckt, list[str]]:
    """The array subcircuit and the RRAM subcircuits it needs (returned separately so several
    builders can share them). Ports: ``bl0.. sl0.. wl0..wl<K-1> vss`` (K = len(words));
    with ``dynamic`` also ``st<k>_<c>`` state outputs are *not* exported (probe via the cell nodes)."""
    rows, cols, words, w, l = _check_array(p, tech)  # noqa: E741
    key = _hash(p, tech.name, *((p.d2d_sigma, p.d2d_seed, p.d2d_first_device) if p.d2d_sigma else ()))
    n_explicit = rows if p.full else len(words)
    n_lumped = rows - n_explicit
    groups = []
    if n_lumped:
        segments = min(p.lumped_segments, n_lumped)
        base, extra = divmod(n_lumped, segments)
        groups = [base + (1 if i < extra else 0) for i in range(segments)]
    subckts = _array_rram_subckts(p, key, groups)

    name = f"array_{rows}x{cols}_{key}"
    ports = [f"bl{i}" for i in range(cols)] + [f"sl{i}" for i in range(cols)] + [f"wl{k}" for k in range(len(words))] + ["vss"]
    lines = [f".subckt {name} {' '.join(ports)}",
             f"* {rows} x {cols} 1T1R, {n_explicit} rows cell by cell, {n_lumped} lumped in {len(groups)} groups"]
    # word lines of the modelled rows: RC ladder along the columns, driven at column 0
    for k in range(len(words)):
        prev = f"wl{k}"
        for col in range(cols):
            node = f"w{k}_{col}"
            lines.append(f"Rw{k}_{col} {prev} {node} {fmt(max(p.r_wl_per_cell_ohm, 1e-3))}")
            if p.c_wl_per_cell_F > 0:
                lines.append(f"Cw{k}_{col} {node} vss {fmt(p.c_wl_per_cell_F)}")
            prev = node
    # sites along each column, from the sense-amplifier end: lumped groups first (nearest), then
    # the explicit rows (farthest: worst-case bit-line RC for the rows that are read)
    sites = [("lumped", g) for g in groups]
    if p.full:
        sites += [("background", 1)] * (rows - len(words))
    sites += [("row", k) for k in range(len(words))]
    for col in range(cols):
        lines += _array_column(p, tech, col, sites, words, key, w, l)
    lines.append(f".ends {name}")
    return Subckt(name=name, ports=tuple(ports), text="\n".join(lines)), subckts


def _check_array(p: ArrayParams, tech: Technology) -> tuple[int, int, tuple[int, ...], float, float]:
    """Validated (rows, cols, words, access W, access L) of an array."""
    rows = check_int("rows", p.rows, min_value=1, max_value=4096)
    cols = check_int("cols", p.cols, min_value=1, max_value=256)
    words = tuple(check_int(f"words[{k}]", w, min_value=0, max_value=2 ** cols - 1) for k, w in enumerate(p.words))
    if not 1 <= len(words) <= rows:
        raise NetlistValueError("words", len(words), f"must give 1..{rows} rows")
    check_choice("background", p.background, ("lrs", "hrs"))
    check_int("lumped_segments", p.lumped_segments, min_value=1, max_value=64)
    check_number("d2d_sigma", p.d2d_sigma, min_value=0.0, max_value=1.0)
    check_int("d2d_first_device", p.d2d_first_device, min_value=0)
    if p.d2d_sigma and p.dynamic:
        raise NetlistValueError("d2d_sigma", p.d2d_sigma, "applies to the static cells only (dynamic=False)")
    for name in ("r_bl_per_cell_ohm", "c_bl_per_cell_F", "r_sl_per_cell_ohm", "c_sl_per_cell_F",
                 "r_wl_per_cell_ohm", "c_wl_per_cell_F"):
        check_number(name, getattr(p, name), min_value=0.0)
    w = check_number("access_w_um", p.cell.access_w_um, min_value=tech.min_width_um.get("nmos", 0.42), max_value=100.0)
    l = check_number("access_l_um", p.cell.access_l_um, min_value=tech.min_length_um["nmos"], max_value=10.0)  # noqa: E741
    return rows, cols, words, w, l


def _array_rram_subckts(p: ArrayParams, key: str, groups: list[int]) -> list[str]:
    """The RRAM subcircuits of an array: stored 1/0 (static, or switching with ``dynamic``) and the
    lumped background groups."""
    c = p.cell
    model = get_model(c.model)
    lrs, hrs, _, _ = cell_states(c)
    subckts = []
    if p.dynamic:
        # switching model starting in the stored state (bit 1 = LRS)
        subckts.append(model.subckt(f"rrd1_{key}", parameter_set=c.parameter_set, **{model.state_initial_name: lrs}))
        subckts.append(model.subckt(f"rrd0_{key}", parameter_set=c.parameter_set, **{model.state_initial_name: hrs}))
    if p.d2d_sigma:  # every modelled cell its own device: its read current scaled by 1 / its factor
        cols = p.cols
        factors = d2d_resistance_factors(p.d2d_sigma, p.d2d_seed,
                                         range(p.d2d_first_device, p.d2d_first_device + len(p.words) * cols))
        for k, word in enumerate(p.words):
            for col in range(cols):
                bit = (word >> col) & 1
                subckts.append(model.static_subckt(f"rr{bit}_{key}_{k}_{col}", lrs if bit else hrs,
                                                   parameter_set=c.parameter_set, multiplier=1.0 / factors[k * cols + col]))
    else:
        subckts.append(model.static_subckt(f"rr1_{key}", lrs, parameter_set=c.parameter_set))
        subckts.append(model.static_subckt(f"rr0_{key}", hrs, parameter_set=c.parameter_set))
    background_state = lrs if p.background == "lrs" else hrs
    for size in sorted(set(groups)):
        subckts.append(model.static_subckt(f"rrb{size}_{key}", background_state, parameter_set=c.parameter_set,
                                           multiplier=size))
    if p.full and p.rows > len(p.words):
        subckts.append(model.static_subckt(f"rrb1_{key}", background_state, parameter_set=c.parameter_set))
    return subckts


def _array_column(p: ArrayParams, tech: Technology, col: int, sites, words, key: str, w: float, l: float) -> list[str]:  # noqa: E741
    """Bit line and source line of column ``col`` with a 1T1R (or a lumped group) at every site."""
    lines = []
    bprev, sprev = f"bl{col}", f"sl{col}"
    for j, (kind, arg) in enumerate(sites):
        n_cells = arg if kind == "lumped" else 1
        b, s = f"b{col}_{j}", f"s{col}_{j}"
        lines.append(f"Rb{col}_{j} {bprev} {b} {fmt(max(p.r_bl_per_cell_ohm * n_cells, 1e-3))}")
        lines.append(f"Rs{col}_{j} {sprev} {s} {fmt(max(p.r_sl_per_cell_ohm * n_cells, 1e-3))}")
        if p.c_bl_per_cell_F > 0:
            lines.append(f"Cb{col}_{j} {b} vss {fmt(p.c_bl_per_cell_F * n_cells)}")
        if p.c_sl_per_cell_F > 0:
            lines.append(f"Cs{col}_{j} {s} vss {fmt(p.c_sl_per_cell_F * n_cells)}")
        mid = f"m{col}_{j}"
        if kind == "row":
            bit = (words[arg] >> col) & 1
            if p.dynamic:
                lines.append(f"Xr{col}_{j} {b} {mid} st{arg}_{col} rrd{bit}_{key}")
            else:
                own = f"_{arg}_{col}" if p.d2d_sigma else ""
                lines.append(f"Xr{col}_{j} {b} {mid} rr{bit}_{key}{own}")
            lines.append(_nfet(tech, f"a{col}_{j}", mid, f"w{arg}_{col}", s, "vss", w, l))
        else:
            lines.append(f"Xr{col}_{j} {b} {mid} rrb{n_cells}_{key}")
            lines.append(_nfet(tech, f"a{col}_{j}", mid, "vss", s, "vss", w, l, m=n_cells))
        bprev, sprev = b, s
    return lines


@dataclass(frozen=True)
class SenseParams:
    """Sense amplifier and reference sizing (um)."""

    pre_w_um: float = _f(1.0, "um", "bit-line precharge NMOS width")
    pre_p_w_um: float = _f(1.0, "um", "bit-line precharge PMOS width (transmission gate)")
    latch_in_w_um: float = _f(2.0, "um", "StrongARM PMOS input pair width")
    latch_tail_w_um: float = _f(1.0, "um", "StrongARM PMOS tail width")
    latch_p_w_um: float = _f(1.0, "um", "StrongARM cross-coupled PMOS width")
    latch_n_w_um: float = _f(0.5, "um", "StrongARM cross-coupled NMOS width")
    latch_reset_w_um: float = _f(0.5, "um", "StrongARM reset NMOS width")
    r_ref_ohm: float = _f(0.0, "ohm", "reference resistor of one replica column (0: the resistance whose current at "
                                       "v_read is the mean of the LRS and HRS currents)")
    c_junction_F: float = _f(0.4e-15, "F", "access-NMOS drain junction per cell seen by a bit line through LRS cells "
                                           "(sizes the replica column's capacitance)")


def sense_amp(p: SenseParams, tech: Technology) -> Subckt:
    """``.subckt sense_amp bl blref pre sae vpre q vdd vss``: voltage-mode sensing of a precharged,
    then floating bit line against the reference bit line with a PMOS-input StrongARM latch.

    ``pre`` high connects the bit line to the read-voltage rail ``vpre``; once it falls an LRS cell
    discharges the bit line faster than the reference column does, an HRS cell slower; ``sae``
    high fires the latch; ``q`` = 1 when the bit line is below the reference (LRS = stored 1),
    0 while ``sae`` is low."""
    l = tech.min_length_um["nmos"]  # noqa: E741
    name = f"sense_amp_{_hash(p)}"
    lines = [f".subckt {name} bl blref pre sae vpre q vdd vss",
             # complementary precharge switch: the two gates' charge injection cancels to first order
             _nfet(tech, "pre", "bl", "pre", "vpre", "vss", p.pre_w_um, l),
             _pfet(tech, "prep", "bl", "preb", "vpre", "vdd", p.pre_p_w_um, l),
             stdcell_instance(tech, "inv_1", "preb", {"A": "pre", "Y": "preb"}),
             stdcell_instance(tech, "inv_1", "saeb", {"A": "sae", "Y": "saeb"}),
             _pfet(tech, "tail", "tail", "saeb", "vdd", "vdd", p.latch_tail_w_um, l),
             _pfet(tech, "in1", "dn", "blref", "tail", "vdd", p.latch_in_w_um, l),
             _pfet(tech, "in2", "dp", "bl", "tail", "vdd", p.latch_in_w_um, l),
             _pfet(tech, "xp1", "outn", "outp", "dn", "vdd", p.latch_p_w_um, l),
             _pfet(tech, "xp2", "outp", "outn", "dp", "vdd", p.latch_p_w_um, l),
             _nfet(tech, "xn1", "outn", "outp", "vss", "vss", p.latch_n_w_um, l),
             _nfet(tech, "xn2", "outp", "outn", "vss", "vss", p.latch_n_w_um, l),
             _nfet(tech, "r1", "outn", "saeb", "vss", "vss", p.latch_reset_w_um, l),
             _nfet(tech, "r2", "outp", "saeb", "vss", "vss", p.latch_reset_w_um, l),
             _nfet(tech, "r3", "dn", "saeb", "vss", "vss", p.latch_reset_w_um, l),
             _nfet(tech, "r4", "dp", "saeb", "vss", "vss", p.latch_reset_w_um, l),
             stdcell_instance(tech, "buf_1", "q", {"A": "outp", "X": "q"}),
             stdcell_instance(tech, "buf_1", "dummy", {"A": "outn", "X": "qb"}),  # symmetric load
             f".ends {name}"]
    return Subckt(name=name, ports=("bl", "blref", "pre", "sae", "vpre", "q", "vdd", "vss"), text="\n".join(lines),
                  includes=tuple(str(tech.stdcell_netlist(c)) for c in ("inv_1", "buf_1")))


def reference_resistance(c: CellParams) -> float:
    """Reference resistance: its current at v_read is the mean of the LRS and HRS currents."""
    _, _, r_on, r_off = cell_states(c)
    return 2.0 / (1.0 / r_on + 1.0 / r_off)


def sense_reference(p: SenseParams, cell: CellParams, rows: int, c_bl_per_cell_F: float, n_columns: int,
                    tech: Technology) -> Subckt:
    """``.subckt sense_ref blref pre vpre vdd vss``: ``n_columns`` replica columns merged into one node
    (one per sense amplifier, so the kick-back of n latches meets n columns of capacitance): the
    bit-line capacitance of a column whose cells are all LRS, precharged like a data bit line, and
    discharged through the reference resistor and a replica access NMOS (gate at VDD)."""
    l = tech.min_length_um["nmos"]  # noqa: E741
    r_ref = p.r_ref_ohm or reference_resistance(cell)
    check_number("r_ref_ohm", r_ref, strictly_positive=True)
    n = check_int("n_columns", n_columns, min_value=1, max_value=1024)
    c_col = rows * (c_bl_per_cell_F + p.c_junction_F)
    name = f"sense_ref_{_hash(p, cell, rows, c_bl_per_cell_F, n)}"
    lines = [f".subckt {name} blref pre vpre vdd vss",
             f"* {n} replica columns: R_ref {r_ref:.6g} ohm and {c_col:.4g} F each",
             _nfet(tech, "pre", "blref", "pre", "vpre", "vss", p.pre_w_um, l, m=n),
             f"X{'prep'} blref preb vpre vdd {tech.device('pmos')} w={fmt(p.pre_p_w_um)} l={fmt(l)} m={n}",
             stdcell_instance(tech, "inv_4", "preb", {"A": "pre", "Y": "preb"}),
             f"Cblr blref vss {fmt(n * c_col)}",
             f"Rref blref mr {fmt(r_ref / n)}",
             _nfet(tech, "acc", "mr", "vdd", "vss", "vss", cell.access_w_um, cell.access_l_um, m=n),
             f".ends {name}"]
    return Subckt(name=name, ports=("blref", "pre", "vpre", "vdd", "vss"), text="\n".join(lines),
                  includes=(str(tech.stdcell_netlist("inv_4")),))


def bit_slice(tech: Technology) -> Subckt:
    """``.subckt bit_slice q a sel x y vdd vss``: y = XNOR(sel ? a : q, x) with mux2_1 + xnor2_1."""
    lines = [".subckt bit_slice q a sel x y vdd vss",
             stdcell_instance(tech, "mux2_1", "mux", {"A0": "q", "A1": "a", "S": "sel", "X": "m"}),
             stdcell_instance(tech, "xnor2_1", "xnor", {"A": "m", "B": "x", "Y": "y"}),
             ".ends bit_slice"]
    if wireload.enabled(tech):  # estimated parasitics: the mux -> XNOR route (circuits.wireload)
        lines[-1:-1] = wireload.cap_lines(wireload.bit_slice_wire_caps(tech))
    return Subckt(name="bit_slice", ports=("q", "a", "sel", "x", "y", "vdd", "vss"), text="\n".join(lines),
                  includes=tuple(str(tech.stdcell_netlist(c)) for c in ("mux2_1", "xnor2_1")))


@dataclass(frozen=True)
class BDPEParams:
    """The whole engine: array + sense amplifiers + datapath + popcount."""

    array: ArrayParams = _f(ArrayParams(), "-", "the RRAM array (words = rows that the deck reads)")
    sense: SenseParams = _f(SenseParams(), "-", "sense amplifier sizing")
    popcount: PopcountParams = _f(PopcountParams(), "-", "popcount structure")
    wl_driver: str = _f("buf_8", "-", "word-line driver standard cell")
    read_path: bool = _f(True, "-", "include the array, sense amplifiers and reference (False: a register-path-only "
                                    "deck, the idle sense outputs tied low as they are while sae is low)")


def bdpe(p: BDPEParams, tech: Technology) -> tuple[Subckt, list[str]]:
    """``.subckt bdpe_<hash> wl_en0.. pre sae sel vpre x0.. a0.. s0..s<k-1> vdd vss``."""
    arr, rram_subckts = rram_array(p.array, tech)
    cols = p.array.cols
    if p.popcount.inputs != cols:
        raise NetlistValueError("popcount.inputs", p.popcount.inputs, f"must equal cols = {cols}")
    sa = sense_amp(p.sense, tech)
    ref = sense_reference(p.sense, p.array.cell, p.array.rows, p.array.c_bl_per_cell_F, cols, tech)
    bs = bit_slice(tech)
    pc = popcount(p.popcount, tech, popcount_wire_caps(p.popcount.inputs, tech))
    k_out = len(plan_popcount(cols).outputs)
    n_words = len(p.array.words)
    name = f"bdpe_{_hash(p, tech.name)}"
    ports = ([f"wl_en{k}" for k in range(n_words)] + ["pre", "sae", "sel", "vpre"]
             + [f"x{i}" for i in range(cols)] + [f"a{i}" for i in range(cols)]
             + [f"s{i}" for i in range(k_out)] + ["vdd", "vss"])
    lines = [f".subckt {name} {' '.join(ports)}"]
    if p.read_path:
        for k in range(n_words):
            lines.append(stdcell_instance(tech, p.wl_driver, f"wld{k}", {"A": f"wl_en{k}", "X": f"wl{k}"}))
        # source lines are held low during reads (their write drivers output 0)
        lines.append(f"Xarr {' '.join([f'bl{i}' for i in range(cols)] + ['vss'] * cols + [f'wl{k}' for k in range(n_words)] + ['vss'])} {arr.name}")
        lines.append(f"Xref blref pre vpre vdd vss {ref.name}")
    for i in range(cols):
        if p.read_path:
            lines.append(f"Xsa{i} bl{i} blref pre sae vpre q{i} vdd vss {sa.name}")
        lines.append(f"Xbs{i} {f'q{i}' if p.read_path else 'vss'} a{i} sel x{i} y{i} vdd vss bit_slice")
    lines.append(f"Xpc {' '.join([f'y{i}' for i in range(cols)] + [f's{i}' for i in range(k_out)])} vdd vss {pc.name}")
    if wireload.enabled(tech):  # estimated parasitics: the engine's routes by fanout and floorplan distance
        lines += wireload.cap_lines(wireload.engine_wire_caps(plan_popcount(cols), tech, engine_floorplan(p, tech),
                                                              read_path=p.read_path))
    lines.append(f".ends {name}")
    blocks = (rram_subckts + [arr.text, sa.text, ref.text]) if p.read_path else []
    body = "\n".join(blocks + [bs.text, pc.text, "\n".join(lines)])
    includes = tuple(dict.fromkeys(sa.includes + ref.includes + bs.includes + pc.includes + (str(tech.stdcell_netlist(p.wl_driver)),)))
    return Subckt(name=name, ports=tuple(ports), text=body, includes=includes), []


@dataclass(frozen=True)
class WriteRowParams:
    """Write path for one row: drivers + the array with the switching RRAM model in that row."""

    array: ArrayParams = _f(ArrayParams(words=(0,), dynamic=True), "-", "the array; words[0] = the row's initial content")
    bl_driver: str = _f("and2_4", "-", "bit-line driver cell (SET: BL high)")
    sl_driver: str = _f("and2_4", "-", "source-line driver cell (RESET: SL high)")
    wl_driver: str = _f("buf_8", "-", "word-line driver cell")


def write_row(p: WriteRowParams, tech: Technology) -> tuple[Subckt, list[str]]:
    """``.subckt write_row pe wl_en d0..d<c-1> vdd vss``: programs the word on d into row 0."""
    if not p.array.dynamic or len(p.array.words) != 1:
        raise NetlistValueError("array", "dynamic/words", "write_row needs dynamic=True and exactly one row")
    arr, rram_subckts = rram_array(p.array, tech)
    cols = p.array.cols
    name = f"write_row_{_hash(p, tech.name)}"
    ports = ["pe", "wl_en"] + [f"d{i}" for i in range(cols)] + ["vdd", "vss"]
    lines = [f".subckt {name} {' '.join(ports)}",
             stdcell_instance(tech, p.wl_driver, "wld", {"A": "wl_en", "X": "wl0"})]
    for i in range(cols):
        lines.append(stdcell_instance(tech, p.bl_driver, f"bld{i}", {"A": "pe", "B": f"d{i}", "X": f"bl{i}"}))
        lines.append(stdcell_instance(tech, "inv_1", f"dn{i}", {"A": f"d{i}", "Y": f"db{i}"}))
        lines.append(stdcell_instance(tech, p.sl_driver, f"sld{i}", {"A": "pe", "B": f"db{i}", "X": f"sl{i}"}))
    lines.append(f"Xarr {' '.join([f'bl{i}' for i in range(cols)] + [f'sl{i}' for i in range(cols)] + ['wl0', 'vss'])} {arr.name}")
    lines.append(f".ends {name}")
    includes = tuple(dict.fromkeys(str(tech.stdcell_netlist(c)) for c in (p.bl_driver, p.sl_driver, p.wl_driver, "inv_1")))
    return Subckt(name=name, ports=tuple(ports), text="\n".join(rram_subckts + [arr.text, "\n".join(lines)]),
                  includes=includes), []


# ----------------------------------------------------------------------------------------------
# area


def engine_floorplan(params: BDPEParams | None = None, tech: Technology | None = None) -> "wireload.Floorplan":
    """The floorplan of an engine (default: the default engine in SKY130) for the wire-load model:
    blocks of the array's width stacked, their heights from :func:`area_estimate`."""
    p = params if params is not None else BDPEParams()
    if tech is None:
        from .technology import sky130
        tech = sky130()
    a = area_estimate(p, tech, utilization=wireload.SKY130_WIRES.utilization)
    cols = p.array.cols
    pitch = p.array.cell.access_w_um + 0.5
    width = cols * pitch
    return wireload.Floorplan(cols=cols, pitch_um=pitch, width_um=width, array_h_um=a["array_um2"] / width,
                              sense_h_um=a["sense_amps_um2"] / width, datapath_h_um=a["datapath_um2"] / width,
                              popcount_h_um=a["popcount_um2"] / width)


def popcount_wire_caps(inputs: int, tech: Technology) -> dict | None:
    """The routes of a popcount of ``inputs`` inputs placed as in the default engine resized to that
    many columns, when ``tech`` has estimated parasitics (else None)."""
    if not wireload.enabled(tech):
        return None
    fp = engine_floorplan(BDPEParams(array=ArrayParams(cols=inputs), popcount=PopcountParams(inputs=inputs)), tech)
    return wireload.popcount_wire_caps(plan_popcount(inputs), tech, fp)


SKY130_AREA_RULES = {"device_w_extra_um": 0.5, "device_l_extra_um": 1.0, "cell_height_um": 0.92,
                     "reference_resistor_um2": 20.0, "mim_F_per_um2": 2e-15}


def _device_area_um2(w: float, l: float, m: int = 1, rules=None) -> float:  # noqa: E741
    """Drawn area of one custom transistor with its contacts: (W + 0.5) x (L + 2 x 0.5) um in SKY130
    (0.5 um for a contacted diffusion on each side of the gate, 0.25 um spacing each side); another
    technology's ``rules`` give its own extras."""
    r = rules or SKY130_AREA_RULES
    return m * (w + r["device_w_extra_um"]) * (l + r["device_l_extra_um"])


def area_estimate(p: BDPEParams, tech: Technology, utilization: float = 0.7, rules=None) -> dict:
    """Area of the BDPE in um^2, by block.

    Assumptions (``rules``, default :data:`SKY130_AREA_RULES`): standard cells from their LEF SIZE,
    divided by ``utilization`` (placement density); custom transistors (sense amplifiers,
    reference) by :func:`_device_area_um2`; the 1T1R cell is (W_access + 0.5 um) x 0.92 um (two poly
    pitches; the RRAM sits on a via above the drain and adds no area); the reference column's
    resistor 20 um^2 (poly) and its bit-line capacitance a MIM capacitor at 2 fF/um^2; write drivers
    per column (2 x and2_4 + inv_1) and one word-line driver per row; no routing channels beyond the
    utilization factor.
    """
    r = rules or SKY130_AREA_RULES
    a = p.array
    cols, rows = a.cols, a.rows
    cell_um2 = (a.cell.access_w_um + r["device_w_extra_um"]) * r["cell_height_um"]
    std = lambda c: tech.stdcell_size_um(c)[0] * tech.stdcell_size_um(c)[1]  # noqa: E731
    plan = plan_popcount(p.popcount.inputs)
    n_fa = sum(x.kind == "fa" for x in plan.adders)
    n_ha = len(plan.adders) - n_fa
    s = p.sense
    l = tech.min_length_um["nmos"]  # noqa: E741

    def dev(w, m=1):
        return _device_area_um2(w, l, m, r)

    sa_um2 = (dev(s.pre_w_um) + dev(s.pre_p_w_um) + dev(s.latch_tail_w_um) + dev(s.latch_in_w_um, 2)
              + dev(s.latch_n_w_um, 2) + dev(s.latch_p_w_um, 2) + dev(s.latch_reset_w_um, 4)
              + 2 * std("inv_1") + 2 * std("buf_1"))  # as sense_amp instantiates them (scripts/area_crosscheck.py)
    # the merged replica columns: a reference resistor, precharge NMOS + PMOS (as sense_reference
    # builds them) and access NMOS per column, the bit-line capacitance as a MIM capacitor; its inv_4
    c_col = rows * (a.c_bl_per_cell_F + s.c_junction_F)
    ref_um2 = cols * (r["reference_resistor_um2"] + dev(s.pre_w_um) + dev(s.pre_p_w_um) + dev(a.cell.access_w_um)
                      + c_col / r["mim_F_per_um2"]) + std("inv_4")
    blocks = {
        "array_um2": rows * cols * cell_um2,
        "sense_amps_um2": cols * sa_um2,
        "reference_um2": ref_um2,
        "datapath_um2": cols * (std("mux2_1") + std("xnor2_1")) / utilization,
        "popcount_um2": (n_fa * std(p.popcount.fa_cell) + n_ha * std(p.popcount.ha_cell)) / utilization,
        "wl_drivers_um2": rows * std("buf_8") / utilization,
        "write_drivers_um2": cols * (2 * std("and2_4") + std("inv_1")) / utilization,
    }
    blocks["total_um2"] = sum(blocks.values())
    blocks["cell_um2"] = cell_um2
    blocks["full_adders"] = n_fa
    blocks["half_adders"] = n_ha
    return blocks
