"""Running a campaign: executors (local worker processes, Dask) over one retry policy, the
bookkeeping of finished points (cached at once), and the atomic write of the tables.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from .cache import Cache, point_key
from .campaign import Campaign, Point, plan
from .procedures import get_testbench
from .progress import DEFAULT_INTERVAL_S, make_progress
from .results import assemble_tables, root_attributes
from .runtime import SimResult
from .tables import write_tables
from .testbench import finish_point, retried_entry, robust_spec  # part of every procedure's cache key

__all__ = ["run_campaign", "RunSummary", "robust_spec", "finish_point", "retried_entry"]


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
                                       error_kind=exc.kind, stopped=exc.stopped, worker_pid=os.getpid())
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


def run_campaign(campaign: Campaign, output: str | os.PathLike, *, jobs: int | None = None, executor: str = "local",
                 scheduler: str | None = None, cache_dir: str | os.PathLike | None = None, progress: bool = True,
                 on_point: Callable[[str, dict], None] | None = None,
                 progress_interval: float = DEFAULT_INTERVAL_S) -> RunSummary:
    """Plan, run (skipping cached points), and write ``output`` atomically. ``progress``: a bar when
    stderr is a terminal, else a line every ``progress_interval`` seconds (characterize.progress)."""
    t_start = time.perf_counter()
    points = plan(campaign)
    from rram_models import models_sha256
    models_hash = models_sha256()
    cache = Cache(cache_dir or os.environ.get("BDPE_CACHE") or ".bdpe-cache")
    jobs = jobs or os.cpu_count() or 1
    client = pool = rec = None
    try:
        if executor == "dask":
            from dask.distributed import Client
            client = Client(scheduler, timeout="30s") if scheduler else Client(processes=True, threads_per_worker=1)
            ngspice = client.submit(_dask_version, pure=False).result()
        else:
            from .runtime import SimulationPool
            pool = SimulationPool(jobs)
            ngspice = pool.version()
        rec = _Recorder(points, [point_key(p, ngspice) for p in points], cache, progress, on_point,
                        effort=(campaign.timeout_s, campaign.retries), interval=progress_interval)
        todo = sorted(rec.missing(), key=lambda i: (points[i].spec.deck_key(), i))  # by deck: each loads once
        if executor == "dask":
            _run_dask(client, points, todo, jobs, campaign.retries, rec.record)
        else:
            _run_local(pool, points, todo, campaign.retries, rec.record)
        rec.close()
    except BaseException:  # Ctrl-C or an error: workers are killed at once; finished points are cached
        if rec is not None:
            rec.close(final=False)
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


def _less_effort(recorded, now: tuple[float, int]) -> bool:
    """Did a cached failure get less time or fewer retries than this run would give it?"""
    try:
        timeout_s, retries = float(recorded[0]), int(recorded[1])
    except (TypeError, ValueError, IndexError):
        return True  # an entry from before efforts were recorded
    return timeout_s < now[0] or retries < now[1]


class _Recorder:
    """Cache lookups and the bookkeeping of finished points: each is cached at once (a killed
    campaign resumes from it), counted, shown on the progress bar."""

    def __init__(self, points: list[Point], keys: list[str], cache: Cache, progress: bool, on_point,
                 effort: tuple[float, int] = (0.0, 0), interval: float = DEFAULT_INTERVAL_S):
        self.points, self.keys, self.cache, self.on_point = points, keys, cache, on_point
        self.effort = effort  # (timeout_s, retries) of this run: recorded with every entry
        self.summary = RunSummary(points=len(points))
        self.entries: dict[int, dict] = {}
        for i, key in enumerate(keys):
            hit = cache.get(key)
            if hit is not None and hit["status"] == 1 and _less_effort(hit.get("effort"), effort):
                hit = None  # a simulation that failed with less time or fewer retries than now: try again
            if hit is not None:
                self.entries[i] = hit
                self.summary.cached += 1
        self.bar = make_progress(len(points), self.summary.cached, progress, interval)

    def missing(self) -> list[int]:
        return [i for i in range(len(self.points)) if i not in self.entries]

    def record(self, i: int, entry: dict) -> None:
        s = self.summary
        entry["effort"] = list(self.effort)
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
            self.bar.advance(s)
        if self.on_point:
            self.on_point(self.keys[i], entry)

    def close(self, final: bool = True) -> None:
        if self.bar:
            self.bar.close(self.summary, final=final)
            self.bar = None


def _dask_chunks(points: list[Point], todo: list[int], jobs: int) -> list[list[int]]:
    """Points grouped by deck, in chunks of at least 4 (a worker loads a deck once per chunk)."""
    groups: dict[str, list[int]] = {}
    for i in todo:
        groups.setdefault(points[i].spec.deck_key(), []).append(i)
    chunks = []
    for idx in groups.values():
        size = max(max(1, len(idx) // max(1, jobs)), 4)
        chunks += [idx[k:k + size] for k in range(0, len(idx), size)]
    return chunks


def _crashed_entry(point: Point, error: str) -> dict:
    """The entry of a point whose task kept killing Dask workers: failed alone, like a local crash."""
    result = SimResult(label=point.spec.label, ok=False, vectors={}, error=error, error_kind="crash")
    return finish_point(get_testbench(point.testbench), point.params, result)


def _run_dask(client, points: list[Point], todo: list[int], jobs: int, retries: int, record) -> None:
    """Points grouped by deck in chunks; each chunk runs on one Dask worker's ngspice (with retries).

    A worker that dies (killed, out of memory, its machine gone) loses only the chunk it was running:
    the scheduler runs that task again on another worker (Dask's ``allowed-failures``), and every
    chunk's points are recorded when its task finishes - each exactly once. A chunk that kills
    workers again and again (Dask raises ``KilledWorker``) is split into single points; a single
    point that does is recorded as failed (error kind ``crash``), the rest of the campaign goes on."""
    from dask.distributed import as_completed
    from distributed import KilledWorker

    def submit(chunk):
        return client.submit(_dask_run_group, [(points[i].testbench, points[i].params, points[i].spec, retries)
                                               for i in chunk], pure=False)

    futures = {submit(chunk): chunk for chunk in _dask_chunks(points, todo, jobs)}
    recorded: set[int] = set()
    pending = as_completed(list(futures))
    for fut in pending:
        chunk = futures.pop(fut)
        try:
            entries = fut.result()
        except KilledWorker as exc:
            for i in chunk if len(chunk) == 1 else ():
                if i not in recorded:
                    recorded.add(i)
                    record(i, _crashed_entry(points[i], f"its task killed Dask workers: {exc}"))
            for i in chunk if len(chunk) > 1 else ():
                single = submit([i])
                futures[single] = [i]
                pending.add(single)
            continue
        for i, entry in zip(chunk, entries):
            if i not in recorded:  # never twice, whatever the scheduler re-ran
                recorded.add(i)
                record(i, entry)
    lost = sorted(set(todo) - recorded)
    if lost:  # pragma: no cover - every future above ends in a result or a KilledWorker
        raise RuntimeError(f"Dask run finished without {len(lost)} points (first: {points[lost[0]].spec.label})")


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
