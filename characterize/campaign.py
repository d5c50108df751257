"""Characterization campaigns: the TOML schema, validation and planning (pure: nothing runs here).

The pipeline of a campaign, one module per step:

* :mod:`characterize.campaign` (this module): one schema (:data:`SCHEMA`) validates the TOML
  (unknown keys, wrong types and bad values are errors naming the field; ``bdpe characterize
  --help`` lists it); :func:`plan` turns every point into testbench parameters and a
  :class:`SimSpec`; nothing runs before the whole campaign is valid.
* :mod:`characterize.cache`: one JSON entry per finished point under a SHA-256 of what decides its
  numbers; entries are validated when read.
* :mod:`characterize.execute`: local worker processes or a Dask cluster, one retry policy (gear
  integration, a 4x smaller step), each point cached as soon as it finishes (a killed campaign
  resumes), the tables written atomically.
* :mod:`characterize.results`: finished points -> one table per operation, provenance attributes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from circuits.netlist import NetlistValueError
from circuits.technology import get_technology
from rram_models.base import InputError

from .procedures import OPERATIONS, get_testbench
from .runtime import SimSpec
from .testbench import Testbench, parse_params

__all__ = ["CampaignError", "Campaign", "OperationSpec", "Point", "load_campaign", "parse_campaign", "plan",
           "operation_axes", "SCHEMA", "describe_schema", "check_text", "SHARED_AXES", "SHARED_UNITS"]


class CampaignError(InputError):
    """Bad campaign input; ``field`` names it (the CLI prints one line, exit 2)."""



# shared axis -> testbench parameter
SHARED_AXES = {"corner": "corner", "vdd": "vdd", "temperature": "temperature_C"}
SHARED_UNITS = {"corner": "-", "vdd": "V", "temperature": "degC"}

# (type, unit, description, default); "table" sections hold free keys validated elsewhere
SCHEMA: dict[str, dict[str, tuple[str, str, str, object]]] = {
    "campaign": {
        "name": ("str", "-", "campaign name (goes into the table provenance)", None),
        "description": ("str", "-", "what the campaign is for", ""),
        "technology": ("str", "-", "technology plug-in: sky130 or freepdk45 (or ideal for device-only campaigns)", "sky130"),
    },
    "rram": {
        "model": ("str", "-", "RRAM model of every operation with an RRAM cell (stanford-pku, vteam)", "stanford-pku"),
        "parameter_set": ("str", "-", "named parameter set of that model", "sky130-1t1r"),
    },
    "simulator": {
        "timeout_s": ("float", "s", "wall-clock limit of one simulation", 1800.0),
        "retries": ("int", "-", "retries of a failed point with robust settings (0-3)", 1),
        "max_points": ("int", "-", "refuse a campaign with more points than this (counted before planning)", 100_000),
    },
    "seeds": {
        "variability": ("int", "-", "seed passed to testbenches that draw variability", 0),
    },
    "axes": {
        "corner": ("list[str]", "-", "process corners (strings such as \"tt\")", ["tt"]),
        "vdd": ("list[float]", "V", "supply voltages", [1.8]),
        "temperature": ("list[float]", "degC", "temperatures", [27.0]),
    },
}
OPERATION_KEYS = {
    "axes": ("table", "-", "per-operation axes: testbench parameter -> list of values", {}),
    "params": ("table", "-", "fixed testbench parameters of the operation", {}),
}


def describe_schema() -> str:
    lines = []
    for section, fields in SCHEMA.items():
        lines.append(f"[{section}]")
        for key, (kind, unit, doc, default) in fields.items():
            lines.append(f"  {key} ({kind}, {unit}): {doc}; default {default!r}")
    lines.append("[operations.NAME] with NAME one of " + ", ".join(OPERATIONS))
    for key, (kind, unit, doc, _) in OPERATION_KEYS.items():
        lines.append(f"  {key} ({kind}): {doc}")
    return "\n".join(lines)


def _check_type(fld: str, value, kind: str):
    ok = {
        "str": lambda v: isinstance(v, str),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "list[str]": lambda v: isinstance(v, list) and v and all(isinstance(x, str) for x in v),
        "list[float]": lambda v: isinstance(v, list) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v),
        "table": lambda v: isinstance(v, dict),
    }[kind]
    if not ok(value):
        raise CampaignError(fld, value, f"must be {kind.replace('list[', 'a non-empty list of ').rstrip(']')}")
    for text in (value if kind == "list[str]" else [value] if kind == "str" else []):
        check_text(fld, text)
    if kind == "float":
        return float(value)
    if kind == "list[float]":
        return [float(x) for x in value]
    return value


MAX_TEXT = 1000


def check_text(fld: str, text: str) -> str:
    """Free text of a campaign (name, description, ...): printable characters only, so nothing that
    reaches a terminal, a log or an HDF5 attribute can carry control sequences (ESC, NUL, newlines)."""
    if len(text) > MAX_TEXT:
        raise CampaignError(fld, text[:40] + "...", f"is longer than {MAX_TEXT} characters")
    bad = next((ch for ch in text if not ch.isprintable()), None)
    if bad is not None:
        raise CampaignError(fld, text, f"contains the control character {bad!r}")
    return text


def _check_unique(fld: str, values: list) -> None:
    seen = set()
    for v in values:
        key = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
        try:
            hash(key)
        except TypeError:
            raise CampaignError(fld, v, "must be a number or a string") from None
        if key in seen:
            raise CampaignError(fld, v, "appears twice in the axis (every axis value must be unique)")
        seen.add(key)


@dataclass(frozen=True)
class OperationSpec:
    name: str
    testbench: str
    fixed: dict
    axes: dict  # testbench parameter -> values (op-specific)


@dataclass(frozen=True)
class Campaign:
    name: str
    description: str
    technology: str
    rram_model: str
    rram_parameter_set: str
    timeout_s: float
    retries: int
    max_points: int
    seed: int
    shared_axes: dict
    operations: tuple[OperationSpec, ...]
    toml_text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.toml_text.encode()).hexdigest()


def parse_campaign(text: str, source: str = "campaign") -> Campaign:
    """Validate a campaign TOML text against :data:`SCHEMA` (errors name the field)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(source, "TOML", f"is malformed ({exc})") from None
    except RecursionError:
        raise CampaignError(source, "TOML", "is nested too deeply") from None
    values = _schema_values(data)
    tech = _check_shared(values)
    ops_raw = data.get("operations")
    if not isinstance(ops_raw, dict) or not ops_raw:
        raise CampaignError("operations", ops_raw, "must hold at least one [operations.NAME] table")
    ops, total_points = [], 0
    limit = values["simulator"]["max_points"]
    for name, body in ops_raw.items():
        op = _parse_operation(name, body, values)
        count = _point_count(op, values["axes"])
        total_points += count
        if total_points > limit:
            raise CampaignError("simulator.max_points", limit,
                                f"is exceeded: the campaign has more than {total_points:,} points "
                                f"(operations.{name} alone {count:,}); raise [simulator] max_points to allow it")
        ops.append(op)
    c, sim = values["campaign"], values["simulator"]
    return Campaign(name=c["name"], description=c["description"], technology=tech.name,
                    rram_model=values["rram"]["model"], rram_parameter_set=values["rram"]["parameter_set"],
                    timeout_s=sim["timeout_s"], retries=sim["retries"], max_points=limit,
                    seed=values["seeds"]["variability"], shared_axes=dict(values["axes"]), operations=tuple(ops),
                    toml_text=text)


def _schema_values(data: dict) -> dict[str, dict]:
    """Every section and key of :data:`SCHEMA` from the TOML data (defaults filled in, types checked);
    unknown sections and keys are errors."""
    for section, raw in data.items():
        if section == "operations":
            continue
        if section not in SCHEMA:
            raise CampaignError(section, "section", f"is not a campaign section ({', '.join(list(SCHEMA) + ['operations'])})")
        if not isinstance(raw, dict):
            raise CampaignError(section, raw, "must be a table")
        for key in raw:
            if key not in SCHEMA[section]:
                raise CampaignError(f"{section}.{key}", raw[key], f"is not a key of [{section}] ({', '.join(SCHEMA[section])})")
    values: dict[str, dict] = {}
    for section, fields in SCHEMA.items():
        values[section] = {}
        for key, (kind, _unit, _doc, default) in fields.items():
            raw = data.get(section, {}).get(key, default)
            if raw is None:
                raise CampaignError(f"{section}.{key}", None, "is required")
            values[section][key] = _check_type(f"{section}.{key}", raw, kind)
    return values


def _check_shared(values: dict[str, dict]):
    """Ranges of the shared axes and simulator settings, the technology and the RRAM model."""
    try:
        tech = get_technology(values["campaign"]["technology"])
    except NetlistValueError as exc:
        raise CampaignError("campaign.technology", values["campaign"]["technology"], exc.reason) from None
    axes, sim = values["axes"], values["simulator"]
    for axis in ("corner", "vdd", "temperature"):
        _check_unique(f"axes.{axis}", axes[axis])
    for corner in axes["corner"]:
        if corner not in tech.corners:
            raise CampaignError("axes.corner", corner, f"is not a corner of {tech.name} ({', '.join(tech.corners)})")
    for v in axes["vdd"]:
        if not 0 < v <= 5.5:
            raise CampaignError("axes.vdd", v, "must be within (0, 5.5] V")
    for v in axes["temperature"]:
        if not -273.15 < v <= 200:
            raise CampaignError("axes.temperature", v, "must be within (-273.15, 200] degC")
    if not 0 <= sim["retries"] <= 3:
        raise CampaignError("simulator.retries", sim["retries"], "must be within 0..3")
    if not 0.1 <= sim["timeout_s"] <= 7 * 86400:
        raise CampaignError("simulator.timeout_s", sim["timeout_s"], "must be within [0.1, 604800] s")
    if sim["max_points"] < 1:
        raise CampaignError("simulator.max_points", sim["max_points"], "must be >= 1")
    from rram_models import ModelParameterError, get_model
    try:
        model = get_model(values["rram"]["model"])
    except ModelParameterError as exc:
        raise CampaignError("rram.model", exc.value, exc.reason) from None
    if values["rram"]["parameter_set"] not in model.parameter_sets:
        raise CampaignError("rram.parameter_set", values["rram"]["parameter_set"],
                            f"is not a parameter set of {model.name} ({', '.join(model.parameter_sets)})")
    return tech


def _parse_operation(name: str, body, values: dict[str, dict]) -> OperationSpec:
    """One ``[operations.NAME]`` table: its axes (canonical, unique) and fixed parameters."""
    if name not in OPERATIONS:
        raise CampaignError(f"operations.{name}", name, f"is not an operation ({', '.join(OPERATIONS)})")
    if not isinstance(body, dict):
        raise CampaignError(f"operations.{name}", body, "must be a table")
    for key in body:
        if key not in OPERATION_KEYS:
            raise CampaignError(f"operations.{name}.{key}", body[key], f"is not a key ({', '.join(OPERATION_KEYS)})")
    tb, fixed0 = OPERATIONS[name].testbench, dict(OPERATIONS[name].fixed)
    tb_fields = {f.name for f in dataclasses.fields(tb.params_type)}
    axes = dict(_check_type(f"operations.{name}.axes", body.get("axes", {}), "table"))
    params = _check_type(f"operations.{name}.params", body.get("params", {}), "table")
    for key, vals in axes.items():
        where = f"operations.{name}.axes.{key}"
        if key not in tb_fields:
            raise CampaignError(where, vals, f"is not a parameter of {tb.name} ({', '.join(sorted(tb_fields))})")
        if key in SHARED_AXES.values():
            raise CampaignError(where, vals, "is a shared axis: set it in [axes]")
        if not isinstance(vals, list) or not vals:
            raise CampaignError(where, vals, "must be a non-empty list")
        if key in fixed0:
            raise CampaignError(where, vals, f"is fixed to {fixed0[key]!r} by the operation {name}")
        axes[key] = _canonical_axis(where, tb, key, vals)
    for key in params:
        if key not in tb_fields:
            raise CampaignError(f"operations.{name}.params.{key}", params[key], f"is not a parameter of {tb.name}")
        if key in fixed0:
            raise CampaignError(f"operations.{name}.params.{key}", params[key],
                                f"is fixed to {fixed0[key]!r} by the operation {name}")
    fixed = {**fixed0, **params}
    if "model" in tb_fields and "parameter_set" in tb_fields:  # every operation with an RRAM cell
        if "model" in axes or "parameter_set" in axes:
            raise CampaignError(f"operations.{name}.axes", "model", "the RRAM model is set in [rram], not an axis")
        fixed.setdefault("model", values["rram"]["model"])
        fixed.setdefault("parameter_set", values["rram"]["parameter_set"])
    if "seed" in tb_fields:
        fixed.setdefault("seed", values["seeds"]["variability"])
    technology = values["campaign"]["technology"]
    if "technology" in tb_fields:  # the campaign's technology reaches every point of the operation
        if fixed.setdefault("technology", technology) != technology:
            raise CampaignError(f"operations.{name}.params.technology", fixed["technology"],
                                f"differs from campaign.technology {technology!r} (one technology per campaign)")
    elif technology != "sky130":
        try:
            own = tb.technology_for(parse_params(tb, fixed)).name
        except NetlistValueError as exc:
            raise CampaignError(f"operations.{name}.{exc.field}", exc.value, exc.reason) from None
        if own not in ("ideal", technology):
            raise CampaignError(f"operations.{name}", name, f"runs in {own}, not in the campaign's {technology}")
    return OperationSpec(name, tb.name, fixed, axes)


def _canonical_axis(where: str, tb: Testbench, key: str, vals: list) -> list:
    """Every value in its canonical form (0xff and 255 are one word; 3e-9 and "3e-9" one time),
    validated by the testbench's own parser; then each may appear once."""
    canonical = []
    for k, v in enumerate(vals):
        try:
            canonical.append(getattr(parse_params(tb, {key: v}), key))
        except NetlistValueError as exc:
            raise CampaignError(f"{where}[{k}]", v, exc.reason) from None
    _check_unique(where, canonical)
    return canonical


def _point_count(op: OperationSpec, shared_axes: dict) -> int:
    """Points of one operation: the shared axes its testbench has (and does not fix) x its own axes."""
    fields = {f.name for f in dataclasses.fields(get_testbench(op.testbench).params_type)}
    count = 1
    for axis, param in SHARED_AXES.items():
        if param in fields and param not in op.fixed:
            count *= len(shared_axes[axis])
    for vals in op.axes.values():
        count *= len(vals)
    return count


def load_campaign(path: str | os.PathLike) -> Campaign:
    p = Path(path)
    try:
        if not p.is_file():
            raise CampaignError("CAMPAIGN", str(path), "is not a file")
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError("CAMPAIGN", str(path), f"cannot be read ({exc})") from None
    return parse_campaign(text, source=str(path))


# ----------------------------------------------------------------------------------------------
# planning


@dataclass(frozen=True)
class Point:
    op: str
    testbench: str
    index: tuple[int, ...]
    coords: tuple[tuple[str, object], ...]
    params: object
    spec: SimSpec


def operation_axes(campaign: Campaign, op: OperationSpec) -> list[tuple[str, str, list, str]]:
    """(axis name, testbench parameter, values, unit) in table order: shared axes the testbench has,
    then the operation's own."""
    tb = get_testbench(op.testbench)
    fields = {f.name: f for f in dataclasses.fields(tb.params_type)}
    out = []
    for axis, param in SHARED_AXES.items():
        if param in fields and param not in op.fixed:
            out.append((axis, param, list(campaign.shared_axes[axis]), SHARED_UNITS[axis]))
    for param, vals in op.axes.items():
        out.append((param, param, list(vals), fields[param].metadata.get("unit", "-")))
    return out


def plan(campaign: Campaign) -> list[Point]:
    """Every point of the campaign, validated (nothing runs here)."""
    points = []
    for op in campaign.operations:
        tb = get_testbench(op.testbench)
        axes = operation_axes(campaign, op)
        for index in itertools.product(*[range(len(a[2])) for a in axes]):
            coords = tuple((a[0], a[2][i]) for a, i in zip(axes, index))
            assignment = dict(op.fixed)
            assignment.update({a[1]: a[2][i] for a, i in zip(axes, index)})
            try:
                params = parse_params(tb, assignment)
                spec = tb.spec(params)
            except NetlistValueError as exc:
                where = next((a[0] for a in axes if a[1] == exc.field), exc.field)
                prefix = "axes" if where in SHARED_AXES else f"operations.{op.name}"
                raise CampaignError(f"{prefix}.{where}", exc.value, exc.reason) from None
            spec = dataclasses.replace(spec, timeout_s=campaign.timeout_s)
            points.append(Point(op.name, op.testbench, index, coords, params, spec))
    return points


# ----------------------------------------------------------------------------------------------
# cache
