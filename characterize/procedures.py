"""The one explicit registry: testbench name -> :class:`Testbench` (deck builder + measure + units),
and campaign operation (HDF5 group) -> (testbench, fixed parameters).

Adding a procedure: write its params class, ``build`` (the deck) and ``measure`` in a testbench
module and a :class:`Testbench` that names them; add one line to :data:`OPERATIONS`. That is all:
``bdpe simulate``, campaigns, tables and the cache see it. Nothing registers itself on import.

Cache keys (:func:`procedure_sha256`) cover exactly the source a procedure uses: the module that
defines its ``build`` and ``measure`` and every module of ``circuits``, ``rram_models`` and
``characterize`` it imports, transitively (derived from the import statements, not hand-listed).
Editing one testbench module therefore re-simulates only the operations whose procedures reach it.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from circuits.netlist import NetlistValueError

from . import bdpe_testbenches as bdpe
from . import ber_testbenches as ber
from . import offset_testbenches as offset
from . import cell_testbenches as cells
from . import logic_testbenches as logic
from . import rram_testbenches as rram
from . import tech_testbenches as tech
from .testbench import Testbench

__all__ = ["Operation", "TESTBENCHES", "OPERATIONS", "get_testbench", "available", "procedure_sha256", "procedure_sources"]

@dataclass(frozen=True)
class Operation:
    """A campaign operation (an HDF5 group): a testbench and the parameters the operation fixes."""

    testbench: Testbench
    fixed: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


# THE registry: one line per operation. A testbench is reachable (``bdpe simulate``) through it.
OPERATIONS: Mapping[str, Operation] = MappingProxyType({
    "rram_set": Operation(rram.RRAM_SET),
    "rram_reset": Operation(rram.RRAM_RESET),
    "rram_read": Operation(rram.RRAM_READ),
    "rram_iv": Operation(rram.RRAM_IV),
    "cell_read": Operation(bdpe.CELL_READ),
    "sense_xnor": Operation(bdpe.SENSE_XNOR),
    "sense_ber": Operation(ber.SENSE_BER),
    "sense_offset": Operation(offset.SENSE_OFFSET),
    "popcount": Operation(bdpe.POPCOUNT),
    "bdpe_rram": Operation(bdpe.BDPE_OP, MappingProxyType({"path": "rram"})),
    "bdpe_register": Operation(bdpe.BDPE_OP, MappingProxyType({"path": "register"})),
    "program_word": Operation(bdpe.PROGRAM_WORD),
    "inverter_chain": Operation(logic.INVERTER_CHAIN),
    "inverter_leakage": Operation(logic.INVERTER_LEAKAGE),
    "rc_step": Operation(logic.RC_STEP),
    "cell_arc": Operation(cells.CELL_ARC),
    "cell_leakage": Operation(cells.CELL_LEAKAGE),
    "fo4": Operation(tech.FO4),
})

TESTBENCHES: Mapping[str, Testbench] = MappingProxyType({op.testbench.name: op.testbench
                                                         for op in OPERATIONS.values()})

_OWN_PACKAGES = ("circuits", "rram_models", "characterize")


def available() -> list[str]:
    return sorted(TESTBENCHES)


def get_testbench(name: str) -> Testbench:
    try:
        return TESTBENCHES[name]
    except KeyError:
        raise NetlistValueError("OPERATION", name, f"is not a testbench ({', '.join(available())})") from None


def _is_module(name: str) -> bool:
    """``from a.b import c``: is ``a.b.c`` a module (or just a name defined in ``a.b``)?"""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, AttributeError, ValueError):
        return False


def _own(name: str | None, own: tuple[str, ...] = _OWN_PACKAGES) -> bool:
    return bool(name) and name.split(".")[0] in own


def _defining_module(module: str, attr: str, own: tuple[str, ...] = _OWN_PACKAGES) -> str:
    """The module that defines ``module.attr`` (a package ``__init__`` mostly re-exports)."""
    obj = getattr(importlib.import_module(module), attr, None)
    # functions and classes know where they are defined; an instance or a constant (an RRAM model
    # object, MASK64) is taken from the module it is imported from, which then is followed
    owner = obj.__module__ if inspect.isfunction(obj) or inspect.isclass(obj) else None
    return owner if _own(owner, own) else module


def _parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:k]) for k in range(1, len(parts))}


@functools.lru_cache(maxsize=None)
def _deps(module: str, own: tuple[str, ...] = _OWN_PACKAGES) -> tuple[frozenset, frozenset]:
    """(modules whose code ``module`` uses, package ``__init__`` files that merely run on the way).

    ``import a.b`` and ``from a.b import m`` (a module) use ``a.b`` / ``a.b.m``; ``from a import f``
    uses the module that defines ``f``. Packages passed through are hashed, not followed: a package
    ``__init__`` that re-exports its whole package must not tie every procedure to every module."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return frozenset(), frozenset()
    package = module if spec.submodule_search_locations else module.rpartition(".")[0]
    use, passed = set(), set()
    for node in ast.walk(ast.parse(Path(spec.origin).read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _own(alias.name, own):
                    use.add(alias.name)
                    passed |= _parents(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            if not _own(base, own):
                continue
            passed |= _parents(base)
            for alias in node.names:
                if _is_module(f"{base}.{alias.name}"):
                    use.add(f"{base}.{alias.name}")
                    passed.add(base)
                else:
                    use.add(_defining_module(base, alias.name, own))
    return frozenset(use), frozenset(passed - use)


def procedure_sources(tb: Testbench) -> list[Path]:
    """Source files of ``tb``'s procedure: its build/measure modules and what they use, transitively."""
    todo = {inspect.getmodule(tb.build).__name__, inspect.getmodule(tb.measure).__name__}
    seen: set[str] = set()
    passed: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        use, through = _deps(name)
        todo |= use
        passed |= through
    files = {Path(importlib.util.find_spec(n).origin) for n in seen | passed}
    return sorted(f for f in files if f.suffix == ".py")


@functools.lru_cache(maxsize=None)
def _sha_of(name: str) -> str:
    tb = get_testbench(name)
    h = hashlib.sha256()
    root = Path(importlib.util.find_spec("characterize").origin).parents[1]
    for path in procedure_sources(tb):
        rel = path.relative_to(root) if path.is_relative_to(root) else path.name
        h.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def procedure_sha256(tb: Testbench) -> str:
    """Hash of the source of ``tb``'s procedure (see the module docstring); part of every cache key."""
    return _sha_of(tb.name)
