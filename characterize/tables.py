"""The HDF5 table store (format "bdpe-tables", version 1): writer, reader and lookup.

Layout (architecture.md): root attributes for provenance; one group per operation; 1-D axis
datasets made dimension scales (with ``units``; string axes as UTF-8); N-D float64 metric datasets
with ``units`` and ``description`` (NaN where a point failed); ``status`` int8 (0 ok, 1 simulation
failed, 2 measurement not found) and ``message`` (UTF-8) of the same shape.

Writes are atomic: the file is written under a temporary name in the same directory and renamed.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from rram_models.base import InputError

from .files import atomic_write

__all__ = ["FORMAT", "FORMAT_VERSION", "OperationTable", "write_tables", "open_tables", "Tables", "TableSet",
           "TableError"]

FORMAT = "bdpe-tables"
FORMAT_VERSION = 1


class TableError(InputError):
    """A table file that cannot be used, or a lookup outside the table (the message says which)."""


@dataclass
class OperationTable:
    """In-memory table of one operation: named axes (with units), metrics over them, status."""

    name: str
    axes: dict[str, np.ndarray]
    axis_units: dict[str, str]
    metrics: dict[str, np.ndarray]
    metric_units: dict[str, str]
    metric_descriptions: dict[str, str]
    status: np.ndarray
    message: np.ndarray
    attrs: dict[str, str] = field(default_factory=dict)
    texts: dict[str, np.ndarray] = field(default_factory=dict)  # non-numeric results (UTF-8), e.g. a word


def _str_dtype():
    import h5py
    return h5py.string_dtype("utf-8")


def write_tables(path: str | os.PathLike, tables: Sequence[OperationTable], root_attrs: Mapping[str, str]) -> None:
    """Write all tables to ``path`` atomically (temporary file + rename)."""
    import h5py

    path = Path(path)
    # the file is built in memory and written with plain file I/O: an error while writing (disk full,
    # EFBIG under ``ulimit -f``) is an OSError, never a crash inside the HDF5 library's close
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        for key, value in root_attrs.items():
            f.attrs[key] = value
        for table in tables:
            g = f.create_group(table.name)
            for key, value in table.attrs.items():
                g.attrs[key] = value
            names = list(table.axes)
            for name in names:
                values = table.axes[name]
                if values.dtype.kind in "US O".replace(" ", ""):
                    ds = g.create_dataset(name, data=np.array([str(v) for v in values], dtype=object), dtype=_str_dtype())
                else:
                    ds = g.create_dataset(name, data=values.astype(np.float64))
                ds.attrs["units"] = table.axis_units.get(name, "-")
                ds.make_scale(name)
            shape = tuple(len(table.axes[n]) for n in names)

            def attach(ds):
                for i, n in enumerate(names):
                    ds.dims[i].attach_scale(g[n])

            for metric, values in table.metrics.items():
                ds = g.create_dataset(metric, data=np.asarray(values, dtype=np.float64).reshape(shape))
                ds.attrs["units"] = table.metric_units.get(metric, "-")
                ds.attrs["description"] = table.metric_descriptions.get(metric, metric)
                attach(ds)
            ds = g.create_dataset("status", data=np.asarray(table.status, dtype=np.int8).reshape(shape))
            ds.attrs["units"] = "-"
            ds.attrs["description"] = "0 ok, 1 simulation failed, 2 measurement not found"
            attach(ds)
            for name, values in table.texts.items():
                ds = g.create_dataset(name, data=np.asarray(values, dtype=object).reshape(shape), dtype=_str_dtype())
                ds.attrs["units"] = "-"
                ds.attrs["description"] = table.metric_descriptions.get(name, name)
                ds.attrs["kind"] = "text"
                attach(ds)
            ds = g.create_dataset("message", data=np.asarray(table.message, dtype=object).reshape(shape),
                                  dtype=_str_dtype())
            ds.attrs["description"] = "failure message of the point (empty when ok)"
            attach(ds)
    atomic_write(path, buffer.getvalue())


class Tables:
    """Read access to a table file: ``operations``, ``axes(op)``, ``metrics(op)``, ``lookup``, ``to_xarray``."""

    def __init__(self, path: str | os.PathLike):
        import h5py

        self.path = Path(path)
        try:
            f = h5py.File(self.path, "r")
        except (OSError, ValueError) as exc:
            raise TableError(f"{self.path}: not an HDF5 table file ({exc})") from None
        with f:
            try:
                self._read(f)
            except TableError:
                raise
            except (KeyError, TypeError, ValueError, IndexError, AttributeError, OSError, RuntimeError) as exc:
                raise TableError(f"{self.path}: malformed table file ({type(exc).__name__}: {exc})") from None

    def _read(self, f) -> None:
        self._check_format(f)
        self.attrs = {k: _attr(v) for k, v in f.attrs.items()}
        self._tables: dict[str, OperationTable] = {name: _read_group(f"{self.path}: group {name!r}", name, g)
                                                   for name, g in f.items()}

    def _check_format(self, f) -> None:
        fmt, version = _text(f.attrs.get("format")), f.attrs.get("format_version")
        if not isinstance(fmt, str) or fmt != FORMAT:
            raise TableError(f"{self.path}: root attribute format {fmt!r} is not {FORMAT!r}")
        if version is None:
            raise TableError(f"{self.path}: root attribute format_version is missing")
        if isinstance(version, np.ndarray) and version.shape == ():
            version = version[()]
        if not isinstance(version, (int, np.integer)) or isinstance(version, (bool, np.bool_)):
            raise TableError(f"{self.path}: root attribute format_version {version!r} is not an integer")
        if int(version) != FORMAT_VERSION:
            raise TableError(f"{self.path}: format version {version} is not supported (this is version {FORMAT_VERSION})")

    @property
    def operations(self) -> list[str]:
        return sorted(self._tables)

    def table(self, op: str) -> OperationTable:
        try:
            return self._tables[op]
        except KeyError:
            raise TableError(f"operation {op!r} is not in {self.path} ({', '.join(self.operations)})") from None

    def axes(self, op: str) -> dict[str, np.ndarray]:
        return dict(self.table(op).axes)

    def metrics(self, op: str) -> list[str]:
        """Numeric metrics (float64 datasets; ``lookup`` interpolates them)."""
        return sorted(self.table(op).metrics)

    def texts(self, op: str) -> dict[str, np.ndarray]:
        """Non-numeric results of ``op`` (e.g. ``programmed`` of program_word) by name, over the axes."""
        return dict(self.table(op).texts)

    def lookup(self, op: str, metric: str, **coords) -> float:
        """Linear interpolation on numeric axes (inside their range), exact match on string axes;
        an axis of length 1 may be omitted. NaN points poison the interpolation (never hidden)."""
        t = self.table(op)
        if metric not in t.metrics:
            raise TableError(f"{op}: no metric {metric!r} ({', '.join(sorted(t.metrics))})")
        unknown = set(coords) - set(t.axes)
        if unknown:
            raise TableError(f"{op}: no axis {sorted(unknown)[0]!r} ({', '.join(t.axes)})")
        values = t.metrics[metric]
        for axis, grid in t.axes.items():
            if axis not in coords:
                if len(grid) != 1:
                    values_text = ", ".join(f"{v:g}" if grid.dtype.kind == "f" else str(v) for v in grid)
                    raise TableError(f"{op}: axis {axis!r} needs a value (one of {values_text})")
                values = values[0]
                continue
            want = coords[axis]
            if grid.dtype.kind in "UO":
                hits = np.nonzero(grid == str(want))[0]
                if not len(hits):
                    raise TableError(f"{op}: {axis}={want!r} is not in the table ({', '.join(map(str, grid))})")
                values = values[hits[0]]
                continue
            x = float(want)
            lo, hi = float(grid.min()), float(grid.max())
            if not lo - 1e-12 * max(1.0, abs(lo)) <= x <= hi + 1e-12 * max(1.0, abs(hi)):
                raise TableError(f"{op}: {axis}={x:g} is outside the table [{lo:g}, {hi:g}]")
            order = np.argsort(grid)
            g_sorted = grid[order]
            values = np.take(values, order, axis=0)
            if len(g_sorted) == 1:
                values = values[0]
                continue
            i = int(np.clip(np.searchsorted(g_sorted, x) - 1, 0, len(g_sorted) - 2))
            w = (x - g_sorted[i]) / (g_sorted[i + 1] - g_sorted[i])
            w = min(max(w, 0.0), 1.0)
            values = values[i] * (1 - w) + values[i + 1] * w if w not in (0.0, 1.0) else values[i + int(w)]
        return float(values)

    def to_xarray(self, op: str):
        import xarray as xr

        t = self.table(op)
        dims = list(t.axes)
        coords = {a: xr.Variable(a, t.axes[a], attrs={"units": t.axis_units[a]}) for a in dims}
        data = {m: xr.Variable(dims, v, attrs={"units": t.metric_units[m], "description": t.metric_descriptions[m]})
                for m, v in t.metrics.items()}
        data.update({k: xr.Variable(dims, v.astype(str), attrs={"kind": "text"}) for k, v in t.texts.items()})
        data["status"] = xr.Variable(dims, t.status)
        return xr.Dataset(data, coords=coords, attrs={k: (v if isinstance(v, (str, int, float)) else str(v))
                                                      for k, v in t.attrs.items()})


def _read_group(where: str, name: str, g) -> OperationTable:
    """One operation group, checked: an integer ``status`` with one scale per dimension, axes that
    match it, metrics (numeric or text) of its shape."""
    import h5py

    if not isinstance(g, h5py.Group):
        raise TableError(f"{where}: is not an operation group")
    if "status" not in g or not isinstance(g["status"], h5py.Dataset):
        raise TableError(f"{where}: has no status dataset (not an operation table)")
    status = g["status"]
    if status.dtype.kind not in "iu":
        raise TableError(f"{where}: status is not an integer dataset")
    axes, units = _read_axes(where, g, status)
    metrics, munits, mdesc, texts = {}, {}, {}, {}
    for key, ds in g.items():
        if key in axes or key in ("status", "message"):
            continue
        if not isinstance(ds, h5py.Dataset) or ds.shape != status.shape:
            raise TableError(f"{where}: {key!r} is not a dataset over the axes {list(axes)}")
        if ds.dtype.kind == "O" or _text(ds.attrs.get("kind", "")) == "text":
            texts[key] = _texts(ds[()])
        elif ds.dtype.kind in "fiu":
            metrics[key] = ds[()].astype(np.float64)
        else:
            raise TableError(f"{where}: metric {key!r} is not numeric ({ds.dtype})")
        munits[key] = _text(ds.attrs.get("units", "-"))
        mdesc[key] = _text(ds.attrs.get("description", ""))
    msg = np.full(status.shape, "", dtype=object)
    if "message" in g:
        if g["message"].shape != status.shape:
            raise TableError(f"{where}: message does not match status")
        msg = _texts(g["message"][()])
    return OperationTable(name, axes, units, metrics, munits, mdesc, status[()], msg,
                          {k: _attr(v) for k, v in g.attrs.items()}, texts)


def _read_axes(where: str, g, status) -> tuple[dict, dict]:
    axes, units = {}, {}
    for i, d in enumerate(status.dims):
        if len(d) != 1:
            raise TableError(f"{where}: dimension {i} of status has {len(d)} scales attached (expected 1)")
        a = d.label or (d[0].name.rsplit("/", 1)[-1])
        if a not in g or g[a].ndim != 1 or len(g[a]) != status.shape[i]:
            raise TableError(f"{where}: axis {a!r} does not match dimension {i} of status")
        raw = g[a][()]
        axes[a] = np.array([_text(v) for v in raw]) if g[a].dtype.kind == "O" else raw.astype(float)
        if axes[a].dtype.kind == "f" and not np.all(np.isfinite(axes[a])):
            raise TableError(f"{where}: axis {a!r} has non-finite values")
        if len(set(axes[a].tolist())) != len(axes[a]):
            raise TableError(f"{where}: axis {a!r} has duplicate values")
        units[a] = _text(g[a].attrs.get("units", "-"))
    return axes, units


def _texts(values) -> np.ndarray:
    """A string dataset's values as an object array of text, any shape (an operation without
    axes has 0-d datasets, which h5py returns as a bare ``bytes``)."""
    arr = np.asarray(values, dtype=object)
    return np.vectorize(_text, otypes=[object])(arr) if arr.size else arr


def _text(value):
    """An HDF5 attribute or string element as Python text (bytes decoded, 0-d arrays unpacked)."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _attr(value):
    """A provenance attribute as plain Python: text, a number, or (for anything else) its text."""
    value = _text(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, np.ndarray):
        return str([_text(v) for v in value.ravel().tolist()])
    return str(value)


def open_tables(path: str | os.PathLike) -> Tables:
    """Open a table file written by :func:`write_tables` (refuses other formats and versions)."""
    return Tables(path)


class TableSet:
    """Several table files of ONE technology read as one (``bdpe report --tables A --tables B``):
    the operations of all of them, each answered by the file that holds it. The first file is the
    primary one (its root attributes are ``attrs``). Refused with a :class:`TableError`: files of
    different technologies, and an operation that two files hold (which one would be meant?)."""

    def __init__(self, files: Sequence[Tables]):
        if not files:
            raise TableError("no table files")
        self.files = list(files)
        self.attrs = self.files[0].attrs
        self.path = self.files[0].path
        tech = self.technology
        self._owner: dict[str, Tables] = {}
        for t in self.files:
            other = str(t.attrs.get("technology", "?"))
            if other != tech:
                raise TableError(f"{t.path}: technology {other!r} differs from {self.path}'s {tech!r} "
                                 "(one technology per table set)")
            for op in t.operations:
                if op in self._owner:
                    raise TableError(f"{t.path}: operation {op!r} is also in {self._owner[op].path}")
                self._owner[op] = t

    @property
    def technology(self) -> str:
        return str(self.attrs.get("technology", "?"))

    @property
    def operations(self) -> list[str]:
        return sorted(self._owner)

    def file_of(self, op: str) -> Tables:
        try:
            return self._owner[op]
        except KeyError:
            raise TableError(f"operation {op!r} is not in {', '.join(str(t.path) for t in self.files)} "
                             f"({', '.join(self.operations)})") from None

    def table(self, op: str) -> OperationTable:
        return self.file_of(op).table(op)

    def axes(self, op: str) -> dict[str, np.ndarray]:
        return self.file_of(op).axes(op)

    def metrics(self, op: str) -> list[str]:
        return self.file_of(op).metrics(op)

    def texts(self, op: str) -> dict[str, np.ndarray]:
        return self.file_of(op).texts(op)

    def lookup(self, op: str, metric: str, **coords) -> float:
        return self.file_of(op).lookup(op, metric, **coords)

    def to_xarray(self, op: str):
        return self.file_of(op).to_xarray(op)


def json_attr(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)
