"""What ``bdpe export`` reads from a table file: the operating points both BDPE operations hold,
and at one of them the numbers every exporter writes, each with the table, metric and operating
point it came from (:class:`BDPEExport`).

Values are read at exact grid points of the tables (no interpolation): an exported library is the
record of one simulated operating point. A point that failed, or whose engine computed a wrong
result, is refused. Nothing here writes a file.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from rram_models.base import InputError

__all__ = ["generator", "ExportError", "Point", "Quantity", "BDPEExport", "BDPE_OPERATIONS", "available_points",
           "select_points", "collect"]

BDPE_OPERATIONS = ("bdpe_rram", "bdpe_register")
_POINT_AXES = (("corner", "corner"), ("vdd", "vdd"), ("temperature", "temperature_C"))  # (axis, testbench param)


class ExportError(InputError):
    """Tables or options an export cannot use (one line, exit code 2)."""


def _tag_number(x: float, decimals: int) -> str:
    """A file-name-safe number: (1.8, 2) -> '1p80', (1.805, 2) -> '1p805', (-40, 0) -> 'm40', (27.5, 0) -> '27p5'."""
    text = f"{x:.{decimals}f}" if round(x, decimals) == x else f"{x:.12g}"
    return text.replace("-", "m").replace(".", "p")


@dataclass(frozen=True)
class Point:
    """An operating point: process corner, supply (V), temperature (degC)."""

    corner: str
    vdd: float
    temperature: float

    @property
    def label(self) -> str:
        return f"{self.corner}/{self.vdd:g} V/{self.temperature:g} C"

    @property
    def tag(self) -> str:
        """``tt_1p80v_27c``: names the library and the files of this point."""
        return f"{self.corner}_{_tag_number(self.vdd, 2)}v_{_tag_number(self.temperature, 0)}c"


@dataclass(frozen=True)
class Quantity:
    """One exported number in SI units and where it came from."""

    value: float
    unit: str
    source: str


@dataclass(frozen=True)
class BDPEExport:
    """Everything an exporter writes for one operating point."""

    point: Point
    values: Mapping[str, Quantity]        # rram_latency, rram_energy, register_latency, register_energy,
    #                                       area; program_latency, program_energy, leakage when the tables hold them
    missing: Mapping[str, str]            # name -> why it is not there (written as a comment)
    provenance: tuple[str, ...]           # lines naming the table file, campaign, generator
    tables_name: str = ""                 # the table file's name
    geometry: Mapping[str, object] = field(default_factory=dict)  # rows, cols, result_bits, vpre_V, technology


def generator() -> str:
    """``bdpe <version>``: the program that writes an export (package metadata; not ``bdpe.__version__``,
    whose package imports the command line)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"bdpe {version('bdpe')}"
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "bdpe"


def _fixed(table) -> dict:
    try:
        fixed = json.loads(table.attrs.get("fixed_parameters", "{}"))
    except (TypeError, ValueError):
        return {}
    return fixed if isinstance(fixed, dict) else {}


def _grid(tables, op: str) -> dict[str, list]:
    """Values of corner/vdd/temperature the table of ``op`` holds: its axis, else the fixed
    parameter, else the testbench default. Any other axis must have exactly one value."""
    from characterize.procedures import OPERATIONS

    table = tables.table(op)
    fixed = _fixed(table)
    defaults = OPERATIONS[op].testbench.default_params()
    grid = {}
    for axis, param in _POINT_AXES:
        if axis in table.axes:
            grid[axis] = [str(v) if axis == "corner" else float(v) for v in table.axes[axis]]
        else:
            grid[axis] = [fixed.get(param, getattr(defaults, param))]
    for axis, values in table.axes.items():
        if axis not in grid and len(values) != 1:
            raise ExportError("--tables", tables.path.name, f"{op} has {len(values)} values on its axis {axis!r}: "
                                                            "an export needs one (run a campaign with one)")
    return grid


def available_points(tables) -> list[Point]:
    """The operating points both BDPE tables hold, in the order of the bdpe_rram table."""
    grids = [_grid(tables, op) for op in BDPE_OPERATIONS]
    out = []
    for corner in grids[0]["corner"]:
        for vdd in grids[0]["vdd"]:
            for temp in grids[0]["temperature"]:
                p = Point(str(corner), float(vdd), float(temp))
                if all(_matches(p, g) for g in grids[1:]):
                    out.append(p)
    return out


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _matches(p: Point, grid: dict) -> bool:
    return (p.corner in [str(c) for c in grid["corner"]] and any(_close(p.vdd, float(v)) for v in grid["vdd"])
            and any(_close(p.temperature, float(t)) for t in grid["temperature"]))


def select_points(tables, corner: str | None, vdd: float | None, temperature: float | None,
                  all_points: bool) -> list[Point]:
    """The points to export: every point (``all_points``), or the one the options name (an option
    may be left out when the tables hold one value for it)."""
    points = available_points(tables)
    held = ", ".join(p.label for p in points) or "none"
    if not points:
        raise ExportError("--tables", tables.path.name, "holds no operating point with both BDPE operations")
    given = {"--corner": corner, "--vdd": vdd, "--temp": temperature}
    if all_points:
        named = [k for k, v in given.items() if v is not None]
        if named:
            raise ExportError(named[0], given[named[0]], "is not meaningful with --all (every point is exported)")
        return _named(points)
    chosen = [p for p in points if (corner is None or p.corner == corner) and (vdd is None or _close(p.vdd, vdd))
              and (temperature is None or _close(p.temperature, temperature))]
    want = "/".join("*" if v is None else f"{v:g}" if isinstance(v, float) else str(v)
                    for v in (corner, vdd, temperature))
    if not chosen:
        raise ExportError("operating point", want, f"is not in the tables (they hold: {held})")
    if len(chosen) > 1:
        raise ExportError("operating point", want, f"matches {len(chosen)} points ({', '.join(p.label for p in chosen)}): "
                                                   "give --corner, --vdd and --temp, or --all")
    return _named(chosen)


def _named(points: list[Point]) -> list[Point]:
    """``points``, each with a corner that can name a library and a file, and distinct file names."""
    for p in points:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,15}", p.corner):
            raise ExportError("corner", p.corner, "cannot name a library (letters and digits only)")
    tags = [p.tag for p in points]
    if len(set(tags)) != len(tags):
        raise ExportError("--all", ", ".join(tags), "two operating points would share a file name")
    return points


def _index(table, point: Point) -> tuple:
    """The index of ``point`` in ``table`` (exact grid values; single-valued axes at 0)."""
    want = {"corner": point.corner, "vdd": point.vdd, "temperature": point.temperature}
    idx = []
    for axis, values in table.axes.items():
        if axis not in want:
            idx.append(0)
        elif axis == "corner":
            idx.append(int(np.nonzero(values == want[axis])[0][0]))
        else:
            idx.append(int(next(k for k, v in enumerate(values) if _close(float(v), want[axis]))))
    return tuple(idx)


def _read(tables, op: str, point: Point, metrics: Mapping[str, str], source: str) -> dict[str, Quantity]:
    """``metrics`` (name -> the SI unit an exporter expects) of ``op`` at ``point``; a failed or
    wrong point, a value that is not a number or a metric in other units is refused."""
    table = tables.table(op)
    i = _index(table, point)
    status = int(table.status[i])
    if status != 0:
        message = str(table.message[i]).splitlines()[0][:160] if str(table.message[i]) else ""
        raise ExportError("--tables", tables.path.name, f"{op} at {point.label} failed (status {status}: {message})")
    if "correct" in table.metrics and table.metrics["correct"][i] != 1.0:
        raise ExportError("--tables", tables.path.name, f"{op} at {point.label} computed a wrong result")
    out = {}
    for metric, unit in metrics.items():
        value = float(table.metrics[metric][i])
        if not math.isfinite(value) or value <= 0:  # latencies and energies of an operation are > 0
            raise ExportError("--tables", tables.path.name, f"{op}.{metric} at {point.label} is {value!r}, "
                                                            "not a positive number")
        if table.metric_units.get(metric) != unit:
            raise ExportError("--tables", tables.path.name, f"{op}.{metric} is in {table.metric_units.get(metric)!r}, "
                                                            f"not {unit!r}")
        out[metric] = Quantity(value, unit, f"{source}: {op}/{metric} @ {point.label}")
    return out


def _optional(tables, op: str, point: Point, metrics: Mapping[str, str], source: str) -> tuple[dict, str]:
    """(values, why not) of an operation the tables may lack, or lack at this point."""
    if op not in tables.operations:
        return {}, f"the tables hold no {op} operation"
    missing = [m for m in metrics if m not in tables.metrics(op)]
    if missing:
        return {}, f"{op} has no {missing[0]} metric"
    try:
        if not _matches(point, _grid(tables, op)):
            return {}, f"{op} is not characterized at {point.label}"
        return _read(tables, op, point, metrics, source), ""
    except ExportError as exc:
        return {}, f"{op} unusable here: {exc.reason}"


def _param(tables, op: str, name: str):
    """A testbench parameter of ``op``'s table: fixed by the campaign, a one-value axis, or the default."""
    from characterize.procedures import OPERATIONS

    table = tables.table(op)
    if name in table.axes and len(table.axes[name]) == 1:
        return table.axes[name][0].item()
    return _fixed(table).get(name, getattr(OPERATIONS[op].testbench.default_params(), name))


def _geometry(tables) -> tuple[dict, Quantity]:
    """Rows, columns, result width, read rail and technology of the engine the tables simulated, and
    its area estimate (``circuits.bdpe.area_estimate``: the tables hold no area)."""
    from circuits.bdpe import ArrayParams, BDPEParams, area_estimate
    from circuits.popcount import plan_popcount
    from circuits.technology import TechnologyNotFound, get_technology

    rows, cols = int(_param(tables, "bdpe_rram", "rows")), ArrayParams().cols
    name = str(tables.attrs.get("technology", ""))
    try:
        area = area_estimate(BDPEParams(array=ArrayParams(rows=rows)), get_technology(name))
    except (TechnologyNotFound, KeyError, ValueError) as exc:
        raise ExportError("--tables", tables.path.name, f"technology {name!r}: no area estimate ({exc})") from None
    geometry = {"rows": rows, "cols": cols, "result_bits": len(plan_popcount(cols).outputs),
                "vpre_V": float(_param(tables, "bdpe_rram", "vpre")), "technology": name}
    source = (f"circuits.bdpe.area_estimate ({rows} x {cols} array + sense amplifiers + datapath + popcount + "
              f"drivers, {name} cell sizes): a layout estimate, not a table value")
    return geometry, Quantity(float(area["total_um2"]), "um^2", source)


def _provenance(tables) -> tuple[str, ...]:
    a, rram = tables.attrs, tables.table("bdpe_rram").attrs
    return (f"tables: {tables.path.name} (format {a.get('format')} v{a.get('format_version')})",
            f"campaign: {a.get('campaign_name', '?')}, sha256 {a.get('campaign_sha256', '?')}",
            f"created {a.get('created_utc', '?')} by {a.get('generator', '?')}, git {str(a.get('git_commit', ''))[:12] or '?'}, "
            f"ngspice {a.get('ngspice_version', '?')}",
            f"technology: {a.get('technology', '?')} ({a.get('technology_source', '?')})",
            f"RRAM cell: {rram.get('rram_model', '?')} / {rram.get('rram_parameter_set', '?')}")


def collect(tables, point: Point) -> BDPEExport:
    """The numbers of the BDPE at ``point`` (exact grid point of both BDPE tables)."""
    source = tables.path.name
    values: dict[str, Quantity] = {}
    for op, prefix in (("bdpe_rram", "rram"), ("bdpe_register", "register")):
        got = _read(tables, op, point, {"latency_s": "s", "energy_J": "J"}, source)
        values[f"{prefix}_latency"], values[f"{prefix}_energy"] = got["latency_s"], got["energy_J"]
    missing: dict[str, str] = {}
    program, why = _optional(tables, "program_word", point, {"latency_s": "s", "energy_J": "J"}, source)
    if program:
        values["program_latency"], values["program_energy"] = program["latency_s"], program["energy_J"]
    else:
        missing["program"] = why
    for op in BDPE_OPERATIONS:
        if "leakage_power_W" in tables.metrics(op):
            values["leakage"] = _read(tables, op, point, {"leakage_power_W": "W"}, source)["leakage_power_W"]
            break
    else:
        missing["leakage"] = ("the tables hold no leakage measurement of the BDPE (bdpe_rram and bdpe_register "
                              "measure operations, no quiet window)")
    geometry, values["area"] = _geometry(tables)
    return BDPEExport(point, values, missing, _provenance(tables), source, geometry)
