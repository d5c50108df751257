"""Gain vs RRAM capacity, with the contribution of each mechanism and the uncertainty range.

:func:`capacity_curve` evaluates the network at each capacity (profile-driven fill, words of 64
bits; ``None`` = every kernel word) and splits the cycles the BDPE saves in the binary GEMM into
its causes (:data:`system_model.mechanisms.CAUSES`, in percentage points of the baseline inference
time, so they add up to the performance gain):

* ``issue``: fewer instructions and shorter dependency chains (NEON popcount replaced, kernel
  load gone on a hit);
* ``load_l1``: L1D load-to-use latency (negative: a miss loads the kernel word after the CHK
  test, a second load latency in series; positive: a hit removes the load);
* ``load_l2`` / ``load_dram``: stalls of loads served by L2 / DRAM that disappear (or grow);
* ``mispredict``: branch mispredictions (the CHK test adds a branch; negative = more).

Each point also gives the loads removed by level (L1D hits, L2 hits, DRAM) and the
mispredictions of both runs, and the gains' range over the uncertain latencies.
"""
from __future__ import annotations

from dataclasses import replace

from .mechanisms import CAUSES
from .networks import get_network
from .platform import PUBLISHED_DOTP, BDPEConfig, evaluate, get_platform

__all__ = ["capacity_curve", "CAPACITY_WORDS"]

CAPACITY_WORDS = (0, 16, 64, 128, 256, 1024, 4096, 16384, None)


def _point(net, platform, bdpe: BDPEConfig, words: int | None) -> dict:
    n_words = net.kernel_words() if words is None else words
    r = evaluate(net, platform, replace(bdpe, rram_words=n_words, rram_usage=None), latency_sweep=())
    base, bd = r.baseline["bdp"], r.bdpe["bdp"]
    scale = 100.0 / r.baseline["inference_cycles"]
    mb, mr = base["memory"], bd["memory"]
    removed_l1 = (mb["l1d_reads"] - mb["l1d_read_misses"]) - (mr["l1d_reads"] - mr["l1d_read_misses"])
    return {
        "words": n_words, "all_words": words is None, "usage": r.bdpe_usage,
        "performance": r.gain["performance"], "energy": r.gain["energy"],
        "performance_range": [r.uncertainty["performance"]["low"], r.uncertainty["performance"]["high"]],
        "energy_range": [r.uncertainty["energy"]["low"], r.uncertainty["energy"]["high"]],
        "bdpe_time_s": r.bdpe["time_s"],
        "contribution_pp": {c: (base["cycles_by_cause"][c] - bd["cycles_by_cause"][c]) * scale for c in CAUSES},
        "loads_removed": {"l1": removed_l1, "l2": mb["l2_read_hits"] - mr["l2_read_hits"],
                          "dram": (mb["dram_reads"] - mr["dram_reads"])},
        "mispredictions": {"baseline": sum(base["mispredictions"].values()),
                           "bdpe": sum(bd["mispredictions"].values())},
    }


def capacity_curve(net=None, platform=None, bdpe: BDPEConfig | None = None,
                   words: tuple = CAPACITY_WORDS) -> list[dict]:
    """One dict per capacity in ``words`` (default 0, 16, 64, 128, 256, 1024, 4096, 16384 and all
    words; ``None`` = all): ``words, all_words, usage, performance, energy, performance_range,
    energy_range`` (low, high over ``platform.latency_range_cycles``), ``bdpe_time_s``,
    ``contribution_pp{issue, load_l1, load_l2, load_dram, mispredict}`` (percentage points of the
    performance gain; they add up to it), ``loads_removed{l1, l2, dram}`` (loads of the binary GEMM
    no longer served by each level) and ``mispredictions{baseline, bdpe}``. Defaults: yolov3-tiny
    on paper-a53 with the published 28 nm DotP numbers."""
    net = net or get_network("yolov3-tiny")
    platform = platform or get_platform("paper-a53")
    bdpe = bdpe or PUBLISHED_DOTP
    return [_point(net, platform, bdpe, w) for w in words]
