"""The testbench data model: what a characterization procedure is, and how its parameters are parsed.

A testbench is three pure stages (style: build -> simulate -> extract):

* ``params``: a frozen dataclass; every field has a default, a unit and a description
  (``field(metadata={"unit": ..., "doc": ...})``), and optionally limits, choices or ``word=True``
  (a 64-bit word given as ``0x`` hex or decimal);
* ``build(params, tech) -> SimSpec``: the deck from the circuit builders, plus probes/analysis;
* ``measure(params, result) -> dict``: numbers (SI units) computed in numpy from the vectors.

The registry of testbenches and campaign operations is :mod:`characterize.procedures` (explicit:
no registration by import side effect).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from circuits.netlist import NetlistValueError, check_choice, check_int, check_name, check_number, check_word, word_text
from circuits.technology import Technology, get_technology

from . import measure as _measure
from .runtime import SimResult, SimSpec, Tran

__all__ = ["Testbench", "parse_params", "describe_params", "finish_point", "robust_spec", "retried_entry"]


@dataclass(frozen=True)
class Testbench:
    name: str
    description: str
    params_type: type
    build: Callable[[object, Technology], SimSpec]
    measure: Callable[[object, SimResult], dict]
    technology: str = "sky130"
    units: Mapping[str, str] = field(default_factory=dict)

    def default_params(self):
        return self.params_type()

    def technology_for(self, params) -> Technology:
        return get_technology(getattr(params, "technology", self.technology))

    def spec(self, params) -> SimSpec:
        return self.build(params, self.technology_for(params))


def _field_kind(f: dataclasses.Field) -> str:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return kind.replace("typing.", "")


def parse_params(tb: Testbench, assignments: Mapping[str, object]):
    """Testbench parameters from ``NAME=VALUE`` strings (or typed values), validated field by field."""
    fields = {f.name: f for f in dataclasses.fields(tb.params_type)}
    values = {}
    for name, raw in assignments.items():
        if name not in fields:
            raise NetlistValueError(name, raw, f"is not a parameter of {tb.name} ({', '.join(fields)})")
        f = fields[name]
        kind = _field_kind(f)
        limits = {k: v for k, v in f.metadata.items() if k in ("min_value", "max_value")}
        if kind == "float":
            values[name] = check_number(name, raw, **limits)
        elif kind == "int":
            values[name] = check_int(name, raw, **limits)
        elif kind == "str":
            if f.metadata.get("word"):
                values[name] = word_text(check_word(name, raw))
            elif "choices" in f.metadata:
                values[name] = check_choice(name, raw, f.metadata["choices"])
            else:
                values[name] = check_name(name, raw)
        else:  # pragma: no cover - programming error in a params class
            raise TypeError(f"unsupported parameter type {kind} for {name}")
    return tb.params_type(**values)


def describe_params(tb: Testbench) -> list[tuple[str, str, object, str, str]]:
    """(name, type, default, unit, description) for every parameter."""
    return [(f.name, _field_kind(f), f.default, f.metadata.get("unit", "-"), f.metadata.get("doc", ""))
            for f in dataclasses.fields(tb.params_type)]


# ----------------------------------------------------------------------------------------------
# from a simulation result to a cache entry: part of every procedure (so of every cache key)


def robust_spec(spec: SimSpec) -> SimSpec:
    """The retry settings: gear integration, 4x smaller maximum step, more gmin/source steps."""
    options = dict(spec.options)
    options.update({"method": "gear", "gminsteps": 50, "srcsteps": 50, "itl4": 100})
    analysis = spec.analysis
    if isinstance(analysis, Tran):
        max_step = analysis.max_step_s or analysis.stop_s / 50
        analysis = dataclasses.replace(analysis, max_step_s=max_step / 4)
    return dataclasses.replace(spec, options=tuple(sorted(options.items())), analysis=analysis,
                               label=spec.label + " [retry: gear, max step / 4]")


def finish_point(tb: Testbench, params, result: SimResult) -> dict:
    """Cache entry of one simulated point: numeric metrics, status, message."""
    entry = {"status": 0, "message": "", "metrics": {}, "analysis_time_s": result.analysis_time_s,
             "wall_time_s": result.wall_time_s, "label": result.label}
    if not result.ok:
        entry.update(status=1, message=f"{result.error_kind}: {result.error}")
        return entry
    try:
        metrics = tb.measure(params, result)
    except _measure.MeasurementNotFound as exc:
        entry.update(status=2, message=f"measurement not found: {exc}")
        return entry
    except Exception as exc:  # a measurement that breaks is a failure with its reason, not "not found"
        entry.update(status=1, message=f"measurement error: {type(exc).__name__}: {exc}")
        return entry
    entry["texts"] = {}
    for k, v in metrics.items():
        if isinstance(v, (bool, np.bool_, int, float, np.integer, np.floating)):
            entry["metrics"][k] = float(v)
        else:  # e.g. program_word's programmed word (hex text): kept as a text metric, never dropped
            entry["texts"][k] = str(v)
    return entry


def retried_entry(entry: dict, first_error: str) -> dict:
    """The entry of a point that needed a retry: one message format for every executor."""
    entry["message"] = f"retried after: {first_error}" + (f"; {entry['message']}" if entry["message"] else "")
    return entry
