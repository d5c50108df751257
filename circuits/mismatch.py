"""Threshold-voltage mismatch of one transistor instance, read from the technology's own model
library (no coefficient is copied into this code).

In a mismatch section of SKY130 (``Technology.with_mismatch``; ``MC_MM_SWITCH=1``) each FET
subcircuit adds ``sw_mm_vth0_<device> * mismatch_factor * MC_MM_SWITCH * AGAUSS(0,1.0,1) /
sqrt(l*w*mult)`` to its threshold through ``delvto``: Pelgrom's law, with the matching constant
``sw_mm_vth0_<device>`` (V um) set in ``models_global.spice`` (``nfet_01v8`` 3.356e-3,
``pfet_01v8`` 5.856e-3). The ``nfet_01v8`` scales its whole threshold term, mismatch included, by
geometry factors ``(0.008*8/l+0.992)*(0.035*7/w+0.965)*(0.001*56/(w*l)+0.999)`` (2.36x at W = 1,
L = 0.15 um), the ``pfet_01v8`` does not.

:func:`vth_mismatch` evaluates the device subcircuit's own ``delvto`` expression (its ``.param``
defaults, the instance's ``w``, ``l``, ``mult`` and the section's global parameters) with the
standard-normal draw ``AGAUSS(0,1.0,1)`` set to 1 and to 0: the difference is the one-sigma
threshold shift (the expression is linear in the draw). Pure text processing: no simulator.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from . import model_library
from .netlist import NetlistValueError
from .technology import Technology

__all__ = ["VthMismatch", "vth_mismatch"]

_SUFFIX = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "mil": 25.4e-6, "m": 1e-3, "u": 1e-6, "n": 1e-9,
           "p": 1e-12, "f": 1e-15}
_NUMBER_RE = re.compile(r"(?<![A-Za-z_0-9.])(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)(meg|mil|[tgkmunpf])"
                        r"(?![A-Za-z0-9_])", re.I)
_IDENT_RE = re.compile(r"(?<![0-9.a-z_])[a-z_][a-z0-9_]*")  # not the e of 1e-3
_ASSIGN_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*")


@dataclass(frozen=True)
class VthMismatch:
    """The one-sigma threshold mismatch of one instance, and the library constant behind it."""

    device: str              # model (subcircuit) name
    w_um: float
    l_um: float
    mult: int
    sigma_V: float
    coefficient_name: str    # the matching constant the expression uses (sw_mm_vth0_...)
    coefficient_Vum: float   # its value


def _clean(text: str) -> str:
    """A statement's text as one line: ``;`` comments, ``+`` continuations and the keyword dropped."""
    lines = [line.split(";", 1)[0].strip() for line in text.splitlines()]
    lines = [line[1:] if line.startswith("+") else line for line in lines]
    return " ".join(lines)


def _assignments(text: str) -> dict[str, str]:
    """``name = value`` pairs of a ``.param`` statement (values may hold spaces: up to the next name)."""
    body = re.sub(r"^\s*\.param\b", "", _clean(text), flags=re.I)
    found = list(_ASSIGN_RE.finditer(body))
    out = {}
    for k, match in enumerate(found):
        end = found[k + 1].start() if k + 1 < len(found) else len(body)
        out[match.group(1).lower()] = body[match.end():end].strip()
    return out


@functools.lru_cache(maxsize=8)
def _section(library, section: str) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """(global parameters, device subcircuit bodies) of one flattened library section."""
    params: dict[str, str] = {}
    subckts: dict[str, tuple[str, ...]] = {}
    for st in model_library.flatten_section(library, section):
        if st.kind == "param":
            params.update(_assignments(st.text))
        elif st.kind == "subckt":
            subckts[next(iter(st.defines))] = st.body
    return params, subckts


def _python(expr: str) -> str:
    """A SPICE expression as Python text (lower case, SI suffixes expanded, ``^`` as ``**``)."""
    expr = expr.strip().strip("'").strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1]
    expr = _NUMBER_RE.sub(lambda m: f"({m.group(1)}*{_SUFFIX[m.group(2).lower()]!r})", expr)
    return expr.replace("{", "(").replace("}", ")").replace("^", "**").lower()


class _Evaluator:
    """Evaluates parameter names on demand: local values first, then the section's globals."""

    def __init__(self, local: dict[str, object], globals_: dict[str, str], z: float):
        self.local, self.globals, self.values = local, globals_, {}
        self.functions = {"sqrt": math.sqrt, "exp": math.exp, "log": math.log, "abs": abs, "min": min, "max": max,
                          "agauss": lambda mu, var, sig: mu + var / sig * z}
        self.stack: list[str] = []

    def name(self, key: str) -> float:
        if key in self.values:
            return self.values[key]
        if key in self.stack:
            raise NetlistValueError("model parameter", key, "refers to itself")
        self.stack.append(key)
        raw = self.local.get(key, self.globals.get(key))
        if raw is None:
            raise NetlistValueError("model parameter", key, "is not defined in the library section")
        value = float(raw) if isinstance(raw, (int, float)) else self.expr(raw)
        self.stack.pop()
        self.values[key] = value
        return value

    def expr(self, text: str) -> float:
        code = _python(text)
        names = {n: self.name(n) for n in set(_IDENT_RE.findall(code)) - set(self.functions)}
        return float(eval(code, {"__builtins__": {}}, {**self.functions, **names}))  # noqa: S307 - library text


def _device_parts(body: tuple[str, ...], device: str) -> tuple[dict[str, str], str]:
    """(the subcircuit's own ``.param`` defaults, its transistor's ``delvto`` expression)."""
    local: dict[str, str] = {}
    delvto = None
    for line in body:
        head = line.lstrip().split(None, 1)[0].lower() if line.strip() else ""
        if head == ".param":
            local.update(_assignments(line))
        elif head.startswith("m"):
            match = re.search(r"\bdelvto\s*=\s*(\{[^}]*\}|'[^']*'|\S+)", _clean(line), re.I)
            delvto = match.group(1) if match else delvto
    if delvto is None:
        raise NetlistValueError("device", device, "has no delvto in its model subcircuit (no mismatch term)")
    return local, delvto


def vth_mismatch(tech: Technology, kind: str, w_um: float, l_um: float, *, mult: int = 1,
                 corner: str | None = None) -> VthMismatch:
    """One-sigma threshold mismatch (V) of a ``kind`` (``nmos``, ``pmos``, ...) instance of the
    technology with width ``w_um`` and length ``l_um`` (um, as written on our instances)."""
    device = tech.device(kind).lower()
    if tech.library is None or not tech.mismatch_sections:
        raise NetlistValueError("technology", tech.name, "has no mismatch models")
    globals_, subckts = _section(tech.library, tech.with_mismatch(True).library_section(corner))
    if device not in subckts:
        raise NetlistValueError("device", device, "is not a subcircuit of the mismatch section")
    local, delvto = _device_parts(subckts[device], device)
    local = {**local, "w": float(w_um), "l": float(l_um), "mult": float(mult), "nf": 1.0}
    sigma = _Evaluator(local, globals_, 1.0).expr(delvto) - _Evaluator(local, globals_, 0.0).expr(delvto)
    text = " ".join([delvto] + [v for v in local.values() if isinstance(v, str)])  # where the constant appears
    names = sorted(set(re.findall(r"sw_mm_vth0_[a-z0-9_]+", text.lower())))
    coefficient = names[0] if names else ""
    value = _Evaluator(local, globals_, 0.0).name(coefficient) if coefficient else float("nan")
    return VthMismatch(device=device, w_um=float(w_um), l_um=float(l_um), mult=int(mult), sigma_V=abs(sigma),
                       coefficient_name=coefficient, coefficient_Vum=value)
