"""Characterization campaigns: a TOML spec -> planned points -> cached, resumable, parallel runs ->
HDF5 tables (:mod:`characterize.tables`).

* One schema (:data:`SCHEMA`) validates the TOML: unknown keys, wrong types and bad values are
  errors naming the field. ``bdpe characterize --help`` and the README list it.
* Planning is pure: every point becomes a testbench parameter set and a :class:`SimSpec`; nothing
  runs before the whole campaign is valid.
* Cache: one JSON file per point, named by a SHA-256 over the netlist text, the model sources, the
  testbench/measurement sources, every parameter, the corner, the temperature and the simulator
  version. A point found in the cache is not simulated; each finished point is written (atomically)
  as soon as it completes, so a killed campaign resumes where it stopped.
* Failures: a failed simulation is retried once with robust settings (gear integration, a 4x smaller
  maximum step, more gmin/source steps); a point that still fails is recorded with status 1 and its
  message, a measurement that finds no crossing with status 2. The campaign always completes.
* Executors: local worker processes (:class:`SimulationPool`, deck affinity: each worker loads a
  deck once) or a Dask cluster (points grouped by deck; each Dask worker process runs one ngspice).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from circuits.netlist import NetlistValueError
from rram_models.base import InputError
from circuits.technology import get_technology

from . import measure as _measure
from .runtime import SimResult, SimSpec, Tran
from .files import atomic_write
from .tables import OperationTable, json_attr, write_tables
from .procedures import OPERATIONS, get_testbench, procedure_sha256
from .testbench import Testbench, parse_params

__all__ = ["CampaignError", "Campaign", "OperationSpec", "Point", "load_campaign", "parse_campaign", "plan",
           "run_campaign", "SCHEMA", "OPERATIONS", "Cache", "describe_schema"]


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
        "technology": ("str", "-", "technology plug-in: sky130 (or ideal for device-only campaigns)", "sky130"),
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


def point_key(point: Point, ngspice_version: str) -> str:
    """SHA-256 of everything that decides a point's numbers: the deck and how it is run, the
    testbench parameters, the simulator version and the source of the point's own procedure
    (:func:`characterize.procedures.procedure_sha256`: editing one testbench module re-simulates
    only the operations that use it)."""
    s = point.spec
    payload = {
        "netlist": s.netlist(), "init": list(s.technology.init_commands), "technology_source": s.technology.source,
        "analysis": s.analysis.command(), "probes": [dataclasses.astuple(p) for p in s.probes],
        "params": list(s.params), "alters": [list(a) for a in s.alters], "options": list(s.options),
        "corner": s.corner, "temperature_C": s.temperature_C, "testbench": point.testbench,
        "tb_params": repr(point.params), "ngspice": ngspice_version,
        "procedure": procedure_sha256(get_testbench(point.testbench)),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class Cache:
    """Content-addressed store of finished points: ``DIR/<key[:2]>/<key>.json``, written atomically."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The entry of ``key``, or None when it is missing or does not pass :func:`valid_entry`
        (a corrupt or foreign file is re-simulated, never trusted)."""
        path = self._path(key)
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError):
            return None
        return entry if valid_entry(entry) else None

    def put(self, key: str, entry: dict) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(entry, default=float))


def valid_entry(entry) -> bool:
    """Schema of a cache entry: status 0/1/2, a message, numeric metrics, text metrics."""
    if not isinstance(entry, dict) or entry.get("status") not in (0, 1, 2) or isinstance(entry.get("status"), bool):
        return False
    if not isinstance(entry.get("message"), str) or not isinstance(entry.get("metrics"), dict):
        return False
    if not all(isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
               for k, v in entry["metrics"].items()):
        return False
    texts = entry.get("texts", {})
    if not isinstance(texts, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in texts.items()):
        return False
    return all(isinstance(entry.get(k, 0.0), (int, float, type(None))) for k in ("analysis_time_s", "wall_time_s"))


# ----------------------------------------------------------------------------------------------
# running


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


def _dask_session():  # pragma: no cover - runs inside Dask worker processes
    """(lock, the worker's ngspice session): one ngspice per worker process, kept on the Dask worker
    object itself (no module-level state); tasks on a multi-threaded worker take turns on it."""
    from dask.distributed import get_worker

    from .runtime import NgspiceSession

    worker = get_worker()
    lock = worker.__dict__.setdefault("_bdpe_ngspice_lock", threading.Lock())
    with lock:
        if getattr(worker, "_bdpe_ngspice", None) is None:
            worker._bdpe_ngspice = NgspiceSession()
    return worker, lock


def _dask_run_group(items):  # pragma: no cover - runs inside Dask worker processes
    """Run (testbench name, params, spec, retries) items on this worker process's single ngspice."""
    from .runtime import SimulationFailed

    worker, lock = _dask_session()
    out = []
    with lock:
        for tb_name, params, spec, retries in items:
            first_error, attempt = "", spec
            for k in range(retries + 1):
                try:
                    result = worker._bdpe_ngspice.run(attempt)
                except SimulationFailed as exc:
                    result = SimResult(label=spec.label, ok=False, vectors={}, error=exc.message,
                                       error_kind=exc.kind, worker_pid=os.getpid())
                except Exception as exc:  # a crashed session: start a fresh one
                    from .runtime import NgspiceSession

                    worker._bdpe_ngspice = NgspiceSession()
                    result = SimResult(label=spec.label, ok=False, vectors={}, error=str(exc), error_kind="crash",
                                       worker_pid=os.getpid())
                if result.ok or k == retries:
                    break
                first_error, attempt = first_error or result.error, robust_spec(spec)
            entry = finish_point(get_testbench(tb_name), params, result)
            out.append(retried_entry(entry, first_error) if first_error else entry)
    return out


def _dask_version():  # pragma: no cover - runs inside a Dask worker
    worker, lock = _dask_session()
    with lock:
        return worker._bdpe_ngspice.version()


@dataclass
class RunSummary:
    points: int = 0
    cached: int = 0
    simulated: int = 0
    failed: int = 0
    retried: int = 0
    analysis_time_s: float = 0.0
    wall_time_s: float = 0.0
    failures: list = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.points} points: {self.simulated} simulated, {self.cached} cached, {self.failed} failed "
                f"({self.retried} retried) in {self.wall_time_s:.1f} s")


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="pt", file=sys.stderr, dynamic_ncols=True, desc="characterize")


def run_campaign(campaign: Campaign, output: str | os.PathLike, *, jobs: int | None = None, executor: str = "local",
                 scheduler: str | None = None, cache_dir: str | os.PathLike | None = None, progress: bool = True,
                 on_point: Callable[[str, dict], None] | None = None) -> RunSummary:
    """Plan, run (skipping cached points), and write ``output`` atomically."""
    t_start = time.perf_counter()
    points = plan(campaign)
    from rram_models import models_sha256
    models_hash = models_sha256()
    cache = Cache(cache_dir or os.environ.get("BDPE_CACHE") or ".bdpe-cache")
    jobs = jobs or os.cpu_count() or 1
    client = pool = None
    try:
        if executor == "dask":
            from dask.distributed import Client
            client = Client(scheduler, timeout="30s") if scheduler else Client(processes=True, threads_per_worker=1)
            ngspice = client.submit(_dask_version, pure=False).result()
        else:
            from .runtime import SimulationPool
            pool = SimulationPool(jobs)
            ngspice = pool.version()
        rec = _Recorder(points, [point_key(p, ngspice) for p in points], cache, progress, on_point)
        todo = sorted(rec.missing(), key=lambda i: (points[i].spec.deck_key(), i))  # by deck: each loads once
        if executor == "dask":
            _run_dask(client, points, todo, jobs, campaign.retries, rec.record)
        else:
            _run_local(pool, points, todo, campaign.retries, rec.record)
        rec.close()
    except BaseException:  # Ctrl-C or an error: workers are killed at once; finished points are cached
        if pool is not None:
            pool.close(kill=True)
            pool = None
        raise
    finally:
        if pool is not None:
            pool.close()
        if client is not None:
            client.close()
    tables = assemble_tables(campaign, points, [rec.entries[i] for i in range(len(points))])
    write_tables(output, tables, root_attributes(campaign, ngspice, models_hash))
    rec.summary.wall_time_s = time.perf_counter() - t_start
    return rec.summary


class _Recorder:
    """Cache lookups and the bookkeeping of finished points: each is cached at once (a killed
    campaign resumes from it), counted, shown on the progress bar."""

    def __init__(self, points: list[Point], keys: list[str], cache: Cache, progress: bool, on_point):
        self.points, self.keys, self.cache, self.on_point = points, keys, cache, on_point
        self.summary = RunSummary(points=len(points))
        self.entries: dict[int, dict] = {}
        for i, key in enumerate(keys):
            hit = cache.get(key)
            if hit is not None:
                self.entries[i] = hit
                self.summary.cached += 1
        self.bar = _progress(len(points), progress)
        if self.bar:
            self.bar.update(self.summary.cached)

    def missing(self) -> list[int]:
        return [i for i in range(len(self.points)) if i not in self.entries]

    def record(self, i: int, entry: dict) -> None:
        s = self.summary
        self.cache.put(self.keys[i], entry)
        self.entries[i] = entry
        s.simulated += 1
        s.analysis_time_s += entry.get("analysis_time_s") or 0.0
        if entry["status"] != 0:
            s.failed += 1
            s.failures.append((self.points[i].op, dict(self.points[i].coords), entry["message"]))
        if entry["message"].startswith("retried"):
            s.retried += 1
        if self.bar:
            self.bar.update(1)
            self.bar.set_postfix(done=s.simulated, cached=s.cached, failed=s.failed)
        if self.on_point:
            self.on_point(self.keys[i], entry)

    def close(self) -> None:
        if self.bar:
            self.bar.close()


def _run_dask(client, points: list[Point], todo: list[int], jobs: int, retries: int, record) -> None:
    """Points grouped by deck in chunks; each chunk runs on one Dask worker's ngspice (with retries)."""
    from dask.distributed import as_completed

    groups: dict[str, list[int]] = {}
    for i in todo:
        groups.setdefault(points[i].spec.deck_key(), []).append(i)
    chunks = []
    for idx in groups.values():
        size = max(max(1, len(idx) // max(1, jobs)), 4)
        chunks += [idx[k:k + size] for k in range(0, len(idx), size)]
    futures = {client.submit(_dask_run_group, [(points[i].testbench, points[i].params, points[i].spec, retries)
                                               for i in chunk], pure=False): chunk for chunk in chunks}
    for fut in as_completed(futures):
        for i, entry in zip(futures[fut], fut.result()):
            record(i, entry)


def _run_local(pool, points: list[Point], todo: list[int], retries: int, record) -> None:
    """All points on the local pool; the failed ones again with :func:`robust_spec`, up to ``retries``."""
    pending = list(todo)
    first_errors: dict[int, str] = {}
    for attempt in range(retries + 1):
        if not pending:
            break
        specs = [points[i].spec if attempt == 0 else robust_spec(points[i].spec) for i in pending]
        failed_now: list[int] = []

        def on_result(k, result, attempt=attempt, pending=pending, failed_now=failed_now):
            i = pending[k]
            if not result.ok and attempt < retries:
                failed_now.append(i)
                first_errors.setdefault(i, result.error)
                return
            entry = finish_point(get_testbench(points[i].testbench), points[i].params, result)
            record(i, retried_entry(entry, first_errors[i]) if i in first_errors else entry)

        pool.map(specs, on_result=on_result)
        pending = failed_now


MEASUREMENT_DEFINITIONS = (
    "Delay/latency: 50 % VDD crossing of the trigger (word-line enable for the RRAM path, operand edge for the "
    "register path, input edge otherwise) to the last 50 % crossing of the output that settles last. Slew 20-80 %. "
    "Energy: integral of V*I delivered by every supply and control source over the operation window. "
    "RRAM SET/RESET latency: pulse start until the resistance at the read voltage (model I-V) crosses "
    "sqrt(R_on*R_off). All measured in numpy from the simulated vectors (no .meas).")


def assemble_tables(campaign: Campaign, points: list[Point], entries: list[dict]) -> list[OperationTable]:
    tables = []
    for op in campaign.operations:
        tb = get_testbench(op.testbench)
        axes = operation_axes(campaign, op)
        shape = tuple(len(a[2]) for a in axes)
        mine = [(p, e) for p, e in zip(points, entries) if p.op == op.name]
        metric_names = sorted({k for _, e in mine for k in e["metrics"]} | {k for k in tb.units
                                                                                if not k.startswith("seed")})
        text_names = sorted({k for _, e in mine for k in e.get("texts", {})})
        metric_names = [k for k in metric_names if k not in text_names and
                        (k in tb.units or any(k in e["metrics"] for _, e in mine))]
        texts = {k: np.full(shape, "", dtype=object) for k in text_names}
        metrics = {k: np.full(shape, np.nan) for k in metric_names}
        status = np.zeros(shape, dtype=np.int8)
        message = np.full(shape, "", dtype=object)
        netlists = hashlib.sha256()
        for p, e in mine:
            for k in metric_names:
                metrics[k][p.index] = e["metrics"].get(k, np.nan)
            for k in text_names:
                texts[k][p.index] = e.get("texts", {}).get(k, "")
            status[p.index] = e["status"]
            message[p.index] = e["message"]
        for p, _ in sorted(mine, key=lambda pe: pe[0].index):
            netlists.update(p.spec.netlist().encode())
        ax = {}
        for name, _param, vals, _unit in axes:
            ax[name] = np.array(vals, dtype=object) if isinstance(vals[0], str) else np.array(vals, dtype=float)
        attrs = {
            "description": tb.description,
            "testbench": op.testbench,
            "fixed_parameters": json_attr(op.fixed),
            "netlist_sha256": netlists.hexdigest(),
            "measurement_definitions": MEASUREMENT_DEFINITIONS,
        }
        if "model" in op.fixed:  # only operations with an RRAM cell claim an RRAM model
            from rram_models import get_model
            model = get_model(op.fixed["model"])
            attrs["rram_model"] = model.name
            attrs["rram_parameters"] = json_attr(model.resolve(op.fixed["parameter_set"]))
            attrs["rram_parameter_set"] = op.fixed["parameter_set"]
        tables.append(OperationTable(
            name=op.name, axes=ax, axis_units={a[0]: a[3] for a in axes}, metrics=metrics,
            metric_units={k: tb.units.get(k, "-") for k in metric_names},
            metric_descriptions={k: f"{k} ({tb.units.get(k, '-')}) from testbench {op.testbench}" for k in metric_names},
            status=status, message=message, attrs=attrs, texts=texts))
    return tables


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def root_attributes(campaign: Campaign, ngspice: str, models_hash: str) -> dict:
    from importlib.metadata import PackageNotFoundError, version
    try:
        pyspice, generator = version("PySpice"), f"bdpe {version('bdpe')}"
    except PackageNotFoundError:  # pragma: no cover
        pyspice, generator = "unknown", "bdpe"
    tech = get_technology(campaign.technology)
    return {
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "generator": generator, "git_commit": _git_commit(), "ngspice_version": ngspice,
        "pyspice_version": pyspice, "technology": tech.name, "technology_source": tech.source,
        "models_sha256": models_hash, "campaign_name": campaign.name, "campaign_toml": campaign.toml_text,
        "campaign_sha256": campaign.sha256,
    }
