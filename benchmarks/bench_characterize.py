"""Campaign runner benchmark, measured side by side in one run.

    .venv/bin/python benchmarks/bench_characterize.py [default|smoke|CAMPAIGN.toml]   (default: default)

Every run starts from an empty result cache and an empty model-subset cache (``BDPE_MODEL_CACHE``
points at a fresh directory), so "cold" includes preparing the SKY130 subsets.  Prints:
(a) 1 worker, cold: wall time against ngspice's own analysis time of the same points (issue 13's
    goal: <= 1.2 on the default campaign);
(b) the fully cached re-run, and (cold - cached) / analysis (goal <= 4 on the smoke campaign,
    whose fixed start-up cost dominates);
(c) 2 workers, cold: speed-up over 1 worker (goal >= 1.85x on the default campaign).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import campaigns
from characterize.campaign import load_campaign, parse_campaign, plan
from characterize.execute import run_campaign


def _campaign(arg: str):
    if arg in campaigns.available():
        return parse_campaign(campaigns.builtin(arg), f"{arg}.toml")
    return load_campaign(arg)


def _timed(campaign, out: Path, jobs: int, cache: Path):
    t0 = time.perf_counter()
    summary = run_campaign(campaign, out, jobs=jobs, cache_dir=cache, progress=False)
    return time.perf_counter() - t0, summary


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "default"
    campaign = _campaign(name)
    n = len(plan(campaign))
    print(f"campaign {name}: {n} points", flush=True)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        os.environ["BDPE_MODEL_CACHE"] = str(d / "models1")
        t1, s1 = _timed(campaign, d / "t1.h5", 1, d / "cache1")
        a = max(s1.analysis_time_s, 1e-9)
        print(f"(a) 1 worker, cold: {t1:.1f} s = {1e3 * t1 / n:.0f} ms/point ({s1.simulated} simulated, {s1.failed} "
              f"failed); ngspice analysis {a:.1f} s = {1e3 * a / n:.0f} ms/point; wall / analysis = {t1 / a:.2f} "
              "(goal <= 1.2 on default)", flush=True)
        t_cached, cached = _timed(campaign, d / "t1.h5", 1, d / "cache1")
        print(f"(b) cached re-run, 1 worker: {t_cached:.2f} s ({cached.simulated} simulated, {cached.cached} cached); "
              f"(cold - cached) / analysis = {(t1 - t_cached) / a:.2f} (goal <= 4 on smoke)", flush=True)
        os.environ["BDPE_MODEL_CACHE"] = str(d / "models2")
        t2, s2 = _timed(campaign, d / "t2.h5", 2, d / "cache2")
    print(f"(c) 2 workers, cold: {t2:.1f} s ({s2.failed} failed); speed-up 1 -> 2 workers {t1 / t2:.2f}x "
          "(goal >= 1.85x on default)", flush=True)

if __name__ == "__main__":
    main()
