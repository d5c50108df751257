"""Campaign runner benchmark, measured side by side in one run.

    .venv/bin/python benchmarks/bench_characterize.py [CAMPAIGN.toml]   (default: campaigns/default.toml)

Prints: (a) cost per point with 1 worker vs ngspice's own analysis time of the same points;
(b) 1 vs 2 workers on a cold cache (goal >= 1.7x); (c) the cached re-run.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from characterize.campaign import load_campaign, plan
from characterize.execute import run_campaign


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "campaigns" / "default.toml")
    campaign = load_campaign(path)
    n = len(plan(campaign))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        runs = {}
        for jobs in (1, 2):
            t0 = time.perf_counter()
            s = run_campaign(campaign, d / f"t{jobs}.h5", jobs=jobs, cache_dir=d / f"cache{jobs}", progress=False)
            runs[jobs] = (time.perf_counter() - t0, s)
        t0 = time.perf_counter()
        cached = run_campaign(campaign, d / "t2.h5", jobs=2, cache_dir=d / "cache2", progress=False)
        t_cached = time.perf_counter() - t0
    (t1, s1), (t2, s2) = runs[1], runs[2]
    print(f"campaign {path.name}: {n} points")
    print(f"(a) 1 worker: {t1:.1f} s = {1e3 * t1 / n:.0f} ms/point; ngspice analysis {s1.analysis_time_s:.1f} s = "
          f"{1e3 * s1.analysis_time_s / n:.0f} ms/point; overhead ratio {t1 / max(s1.analysis_time_s, 1e-9):.2f}x "
          "(the rest is deck loading: SKY130 ~4-5 s per deck and corner, the BDPE decks far more)")
    print(f"(b) 2 workers: {t2:.1f} s; speed-up 1 -> 2 workers {t1 / t2:.2f}x (goal >= 1.7x)")
    print(f"(c) cached re-run: {t_cached:.2f} s, {cached.simulated} simulated, {cached.cached} cached")


if __name__ == "__main__":
    main()
