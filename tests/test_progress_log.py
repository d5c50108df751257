"""Progress in a log: with stderr not a terminal, ``bdpe characterize`` (and ``bdpe run``, the same
runner) prints a line every ``--progress-interval`` seconds (default 10) and one at the end, with
done / simulated / cached / failed / total and an ETA; never a carriage-return bar."""
from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from characterize.progress import DEFAULT_INTERVAL_S, ProgressLog, duration_text

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "campaigns" / "smoke.toml"
LINE = re.compile(r"characterize: done (\d+)/(\d+) \(simulated (\d+), cached (\d+), failed (\d+)\), "
                  r"elapsed (\d+ s|\d+ min \d\d s|\d+ h \d\d min), ETA (\?|\d+ s|\d+ min \d\d s|\d+ h \d\d min)")


def characterize(tmp_path, *extra):
    return subprocess.run([sys.executable, "-m", "bdpe.cli", "characterize", str(SMOKE), "-o", str(tmp_path / "t.h5"),
                           "--cache", str(tmp_path / "cache"), "--jobs", "2", *extra],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=900)


def progress_lines(stderr: str) -> list[tuple]:
    lines = [line for line in stderr.splitlines() if line.startswith("characterize: ")]
    for line in lines:
        assert LINE.fullmatch(line), line
    return [LINE.fullmatch(line).groups() for line in lines]


@pytest.mark.ngspice
def test_piped_stderr_gets_periodic_lines_and_a_last_one(tmp_path):
    r = characterize(tmp_path, "--progress-interval", "0.5")
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr and "\x1b" not in r.stderr  # no terminal bar in a log
    lines = progress_lines(r.stderr)
    assert len(lines) >= 3, r.stderr  # a cold smoke campaign takes seconds: several ticks + the last line
    done = [int(g[0]) for g in lines]
    assert done == sorted(done) and all(int(g[1]) == 13 for g in lines)
    assert lines[-1][:5] == ("13", "13", "13", "0", "0") and lines[-1][6] == "0 s"
    for g in lines:
        assert int(g[0]) == int(g[2]) + int(g[3])  # done = simulated + cached
        assert (g[6] == "?") == (g[2] == "0" and int(g[0]) < 13)  # an ETA once a point was simulated
    again = characterize(tmp_path, "--progress-interval", "0.5")
    assert again.returncode == 0 and progress_lines(again.stderr)[-1][:5] == ("13", "13", "0", "13", "0")
    quiet = characterize(tmp_path, "--no-progress")
    assert quiet.returncode == 0 and not progress_lines(quiet.stderr)


def test_bad_interval_is_refused(tmp_path, capsys):
    from bdpe.cli import main

    for value in ("0", "-1", "nan", "1e9"):
        for argv in (["characterize", str(SMOKE), "-o", str(tmp_path / "t.h5")], ["run", "--out", str(tmp_path / "o")]):
            assert main(argv + ["--cache", str(tmp_path / "cache"), "--progress-interval", value]) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and "--progress-interval" in err[0], err
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing simulated


def test_lines_eta_and_clock():
    assert DEFAULT_INTERVAL_S == 10.0
    now = [100.0]
    out = io.StringIO()
    log = ProgressLog(40, cached=10, interval=3600, stream=out, clock=lambda: now[0])
    assert log.line() == "characterize: done 10/40 (simulated 0, cached 10, failed 0), elapsed 0 s, ETA ?"

    class S:
        simulated, cached, failed = 5, 10, 1

    now[0] = 125.0
    log.advance(S)
    assert log.line() == "characterize: done 15/40 (simulated 5, cached 10, failed 1), elapsed 25 s, ETA 2 min 05 s"
    log.close()
    assert out.getvalue().splitlines() == [log.line()]
    assert [duration_text(s) for s in (0.4, 119, 120, 7199, 7260)] == ["0 s", "119 s", "2 min 00 s", "119 min 59 s",
                                                                       "2 h 01 min"]
