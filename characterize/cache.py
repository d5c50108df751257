"""The point cache: content-addressed JSON entries of finished points, validated when read.

A point's key (:func:`point_key`) covers its deck and how it is run, its testbench parameters, the
simulator version and the source of its own procedure (``characterize.procedures``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from .campaign import Point
from .files import atomic_write
from .procedures import get_testbench, procedure_sha256

__all__ = ["point_key", "Cache", "valid_entry"]


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
    if s.seed is not None:  # Monte Carlo draws (only then: every other point keeps its key)
        payload["seed"] = s.seed
    if s.fallback_options:  # option sets tried when the transient stops (only then: other keys stay)
        payload["fallback_options"] = [list(o) for o in s.fallback_options]
    if s.technology.model_load_identity():  # edited cards, cards moved out of their subcircuits
        payload["model_load"] = s.technology.model_load_identity()
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
