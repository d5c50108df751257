"""A real Dask cluster from its command lines: ``dask scheduler`` and two ``dask worker`` processes on
127.0.0.1 (random free ports), started exactly as the README's cluster section shows
(:data:`README_COMMANDS`, port 8786 there), running the smoke campaign through
``bdpe characterize ... --executor dask --scheduler tcp://127.0.0.1:PORT``.

1. The tables equal the local executor's (scripts/compare_tables.py: every metric bit for bit,
   the simulator's own run time aside).
2. One worker is killed with SIGKILL (its whole process group: nanny and worker process, so nothing
   restarts it) while it runs a task, right after the first point was recorded: the campaign
   still finishes on the other worker with every point, each recorded once, and the same tables.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "campaigns" / "smoke.toml"
VENV_BIN = Path(sys.executable).parent

# The README's cluster section, verbatim (with PORT = 8786 there, a free port here).
README_COMMANDS = (
    ".venv/bin/dask scheduler --host 127.0.0.1 --port PORT --no-dashboard &",
    ".venv/bin/dask worker tcp://127.0.0.1:PORT --nworkers 1 --nthreads 1 --no-dashboard &",
    ".venv/bin/dask worker tcp://127.0.0.1:PORT --nworkers 1 --nthreads 1 --no-dashboard &",
    ".venv/bin/bdpe characterize campaigns/smoke.toml -o t.h5 --executor dask --scheduler tcp://127.0.0.1:PORT",
)


def _argv(command: str, port: int) -> list[str]:
    words = command.replace("PORT", str(port)).rstrip(" &").split()
    return [str(VENV_BIN / words[0].rsplit("/", 1)[1])] + words[1:]


class Cluster:
    """A scheduler and two workers started from the command lines; everything killed in :meth:`stop`."""

    def __init__(self, workdir: Path):
        self.procs: list[subprocess.Popen] = []
        self.logs = []
        self.workdir = workdir
        self.scheduler = ""

    def _start(self, argv: list[str], log: Path) -> subprocess.Popen:
        self.logs.append(log.open("w"))
        proc = subprocess.Popen(argv, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=self.logs[-1],
                                start_new_session=True)  # its own process group: a worker dies whole
        self.procs.append(proc)
        return proc

    def start(self) -> "Cluster":
        log = self.workdir / "scheduler.log"
        self._start(_argv(README_COMMANDS[0], 0), log)  # port 0: the scheduler picks a free port
        deadline = time.monotonic() + 60
        while not self.scheduler:
            found = re.search(r"Scheduler at:\s+(tcp://127\.0\.0\.1:\d+)", log.read_text())
            self.scheduler = found.group(1) if found else ""
            assert self.procs[0].poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        port = int(self.scheduler.rsplit(":", 1)[1])
        for k, command in enumerate(README_COMMANDS[1:3]):
            self._start(_argv(command, port), self.workdir / f"worker{k}.log")
        from dask.distributed import Client

        with Client(self.scheduler, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        return self

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)
        for log in self.logs:
            log.close()


@pytest.fixture
def cluster(tmp_path):
    if not (VENV_BIN / "dask").exists():  # pragma: no cover - dask[distributed] is a dependency
        pytest.fail(f"{VENV_BIN / 'dask'} is missing: the package's dask[distributed] dependency is not installed")
    c = Cluster(tmp_path)
    try:
        yield c.start()
    finally:
        c.stop()


@pytest.fixture(scope="module")
def local_tables(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("local")
    r = subprocess.run([sys.executable, "-m", "bdpe.cli", "characterize", str(SMOKE), "-o", str(d / "local.h5"),
                        "--cache", str(d / "cache"), "--jobs", "2", "--no-progress"],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr
    return d / "local.h5"


def _characterize(cluster: Cluster, out: Path, cache: Path) -> list[str]:
    argv = _argv(README_COMMANDS[3], int(cluster.scheduler.rsplit(":", 1)[1]))
    argv[argv.index("campaigns/smoke.toml")] = str(SMOKE)
    argv[argv.index("t.h5")] = str(out)
    return argv + ["--cache", str(cache)]


def _assert_same_tables(a: Path, b: Path) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_tables.py"), str(a), str(b)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def _summary(stderr: str) -> tuple[int, int, int, int]:
    m = re.search(r"(\d+) points: (\d+) simulated, (\d+) cached, (\d+) failed", stderr)
    assert m, stderr
    return tuple(int(x) for x in m.groups())


@pytest.mark.ngspice
def test_cluster_from_the_command_line_equals_local(cluster, local_tables, tmp_path):
    out = tmp_path / "dask.h5"
    r = subprocess.run(_characterize(cluster, out, tmp_path / "cache"), capture_output=True, text=True, cwd=ROOT,
                       timeout=900)
    assert r.returncode == 0, r.stderr
    assert _summary(r.stderr) == (13, 13, 0, 0)
    _assert_same_tables(local_tables, out)


def _busy_worker(scheduler: str) -> int:
    """The pid of a worker that is running a task right now."""
    from dask.distributed import Client

    with Client(scheduler, timeout="30s") as client:
        processing = client.processing()
        busy = [addr for addr, tasks in processing.items() if tasks]
        assert busy, f"no worker is running a task: {processing}"
        return client.run(os.getpid, workers=busy[:1])[busy[0]]


@pytest.mark.ngspice
def test_a_worker_killed_mid_campaign_loses_nothing(cluster, local_tables, tmp_path):
    out, cache = tmp_path / "dask.h5", tmp_path / "cache"
    log = (tmp_path / "bdpe.log").open("w")
    run = subprocess.Popen(_characterize(cluster, out, cache), stdout=subprocess.DEVNULL, stderr=log, cwd=ROOT)
    try:
        deadline = time.monotonic() + 600
        while not list(cache.rglob("*.json")):  # the first finished point, cached by the client
            assert run.poll() is None and time.monotonic() < deadline, (tmp_path / "bdpe.log").read_text()
            time.sleep(0.05)
        victim = _busy_worker(cluster.scheduler)
        os.killpg(os.getpgid(victim), signal.SIGKILL)  # the worker and its nanny: it never comes back
        assert run.wait(timeout=900) == 0, (tmp_path / "bdpe.log").read_text()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        log.close()
    stderr = (tmp_path / "bdpe.log").read_text()
    assert _summary(stderr) == (13, 13, 0, 0), stderr  # every point once: 13 recorded, none failed
    assert len(list(cache.rglob("*.json"))) == 13
    _assert_same_tables(local_tables, out)
    from dask.distributed import Client

    with Client(cluster.scheduler, timeout="30s") as client:
        assert len(client.scheduler_info()["workers"]) == 1  # the killed worker stayed dead


def test_readme_shows_the_cluster_commands():
    """The README's cluster section shows exactly the commands this file runs (port 8786 there)."""
    shown = [line[2:].strip() for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("$ ")]
    for command in README_COMMANDS:
        assert command.replace("PORT", "8786") in shown, command


def test_a_task_that_keeps_killing_workers_fails_alone(monkeypatch):
    """Dask gives up on a task that killed ``allowed-failures`` workers (KilledWorker): its chunk is
    split into single points, the point that still kills workers is recorded as failed (crash), every
    other point is recorded once. In-process workers and a stand-in task: nothing is simulated."""
    from dask.distributed import Client, LocalCluster
    from distributed import KilledWorker

    import characterize.execute as ex
    from characterize.campaign import load_campaign, plan

    points = plan(load_campaign(SMOKE))
    bad = points[0].spec.label

    def stand_in(items):
        if len(items) > 1 or items[0][2].label == bad:
            raise KilledWorker(task="chunk", last_worker=SimpleNamespace(address="tcp://127.0.0.1:1"), allowed_failures=3)
        return [{"status": 0, "message": "", "metrics": {"x": 1.0}, "label": items[0][2].label}]

    monkeypatch.setattr(ex, "_dask_run_group", stand_in)
    recorded = []
    with LocalCluster(n_workers=1, processes=False, threads_per_worker=2, dashboard_address=None) as lc, \
            Client(lc) as client:
        ex._run_dask(client, points, list(range(len(points))), 2, 0, lambda i, e: recorded.append((i, e)))
    assert sorted(i for i, _ in recorded) == list(range(len(points)))  # each point exactly once
    failed = [(i, e) for i, e in recorded if e["status"] != 0]
    assert [i for i, _ in failed] == [0] and failed[0][1]["message"].startswith("crash: its task killed Dask workers")
