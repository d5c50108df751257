"""Progress of a campaign: a tqdm bar in a terminal, plain lines in a log.

When stderr is a terminal the bar redraws in place. When it is not (a CI log, ``2> run.log``,
``| tee``) a bar would write carriage returns into the file, so :class:`ProgressLog` prints one
line every ``interval`` seconds (a clock, not the finished points: a long point still shows the
run is alive) and one at the end::

    characterize: done 7/13 (simulated 5, cached 2, failed 0), elapsed 12 s, ETA 9 s

``done`` = simulated + cached; the ETA extrapolates the rate of the points simulated so far
(``?`` before the first one finishes).
"""
from __future__ import annotations

import sys
import threading
import time

__all__ = ["ProgressLog", "ProgressBar", "make_progress", "DEFAULT_INTERVAL_S", "duration_text"]

DEFAULT_INTERVAL_S = 10.0


def duration_text(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    s = int(round(max(seconds, 0.0)))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class ProgressLog:
    """Progress as lines: every ``interval`` seconds from a background thread, and at :meth:`close`."""

    def __init__(self, total: int, cached: int = 0, *, interval: float = DEFAULT_INTERVAL_S, desc: str = "characterize",
                 stream=None, clock=time.monotonic):
        self.total, self.desc, self.interval = total, desc, interval
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.counts = {"simulated": 0, "cached": cached, "failed": 0}
        self.t0 = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bdpe-progress-log", daemon=True)
        self._thread.start()

    def advance(self, summary) -> None:
        """New counts (a :class:`characterize.execute.RunSummary`) after a finished point."""
        with self._lock:
            self.counts = {"simulated": summary.simulated, "cached": summary.cached, "failed": summary.failed}

    def line(self) -> str:
        with self._lock:
            c = dict(self.counts)
        elapsed = self.clock() - self.t0
        done = c["simulated"] + c["cached"]
        left = max(self.total - done, 0)
        eta = "0 s" if not left else duration_text(elapsed / c["simulated"] * left) if c["simulated"] else "?"
        return (f"{self.desc}: done {done}/{self.total} (simulated {c['simulated']}, cached {c['cached']}, "
                f"failed {c['failed']}), elapsed {duration_text(elapsed)}, ETA {eta}")

    def _emit(self) -> None:
        try:
            print(self.line(), file=self.stream, flush=True)
        except (OSError, ValueError):  # the log went away (closed pipe): progress is not worth a failure
            pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._emit()

    def close(self, summary=None, final: bool = True) -> None:
        """Stop the clock; print the last line (unless the run was interrupted: ``final`` False)."""
        if summary is not None:
            self.advance(summary)
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        if final:
            self._emit()


class ProgressBar:
    """The tqdm bar for a terminal, with the same interface as :class:`ProgressLog`."""

    def __init__(self, total: int, cached: int = 0, *, desc: str = "characterize"):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="pt", file=sys.stderr, dynamic_ncols=True, desc=desc)
        self.bar.update(cached)

    def advance(self, summary) -> None:
        self.bar.update(1)
        self.bar.set_postfix(done=summary.simulated, cached=summary.cached, failed=summary.failed)

    def close(self, summary=None, final: bool = True) -> None:
        self.bar.close()


def make_progress(total: int, cached: int, enabled: bool, interval: float = DEFAULT_INTERVAL_S):
    """A bar when stderr is a terminal, lines otherwise, nothing when not ``enabled``."""
    if not enabled:
        return None
    if sys.stderr.isatty():
        return ProgressBar(total, cached)
    return ProgressLog(total, cached, interval=interval)
