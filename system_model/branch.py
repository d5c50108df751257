"""Branch predictor model: gem5's TournamentBP (MinorCPU's default) on the binary GEMM's branches.

The predictor (gem5 ``src/cpu/pred/tournament.cc``, MinorCPU's ``branchPred`` default), with gem5's
default sizes (``BranchPredictor.py``):

* local: a local history table of ``localHistoryTableSize`` = 2048 histories, indexed by
  ``(pc >> 2) & 2047``; each history has ``log2(localPredictorSize)`` = 11 bits and indexes one of
  ``localPredictorSize`` = 2048 two-bit counters (the counters are shared by all branches: indexed
  by the history alone);
* global: ``globalPredictorSize`` = 8192 two-bit counters indexed by the last 13 branch outcomes
  (global history of max(log2 8192, log2 8192) = 13 bits; no PC hashing);
* chooser: ``choicePredictorSize`` = 8192 two-bit counters indexed by the global history; the
  global prediction is used when the counter is above 1; it is updated only when local and
  global disagree (towards the one that was right);
* counters start at 0 (strongly not taken), histories at 0; a counter predicts taken above 1.

Updates are applied in program order right after each prediction (a trace-driven model: gem5
updates the histories speculatively at prediction and repairs them on a squash, so they end up
the same; its counters are updated at commit, a few cycles later, which this ignores). The BTB is
assumed to hit (4096 entries, a handful of branches here).

The branch stream of a binary layer (:mod:`system_model.loopnest`): per BDP the CHK test (BDPE
run only; :class:`CodeLayout` ``chk_taken_on_hit``: the hit path skips the miss code's ``ldr`` +
``dpm``, so the branch is taken on a hit) and the word loop's ``b.ne`` (taken except on the last
word); after each dot product the middle loop's branch, after each middle loop the outer loop's.
A layer runs from a cleared predictor (a few dozen warm-up mispredictions per layer at most).

Exactness without sampling: the stream is a sequence of identical *segments* (one middle-loop
iteration: ``n`` words and the middle branch). After each segment the simulator checks whether
every predictor entry the segment touched is back to its value at the segment's start (histories
included): then the state is a fixed point of the segment, every following identical segment
mispredicts exactly as this one, and they are counted without simulating them.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["TournamentConfig", "GEM5_TOURNAMENT", "CodeLayout", "DARKNET_LAYOUT", "predict_sequence",
           "branch_events", "layer_mispredictions", "KINDS"]

KINDS = ("chk", "word_loop", "middle_loop", "outer_loop")
_NCONST = 16


@dataclass(frozen=True)
class TournamentConfig:
    """gem5 ``TournamentBP`` parameters (defaults = gem5's, MinorCPU's predictor)."""

    local_predictor_size: int = 2048
    local_ctr_bits: int = 2
    local_history_table_size: int = 2048
    global_predictor_size: int = 8192
    global_ctr_bits: int = 2
    choice_predictor_size: int = 8192
    choice_ctr_bits: int = 2
    inst_shift: int = 2

    def __post_init__(self):
        for size in (self.local_predictor_size, self.local_history_table_size, self.global_predictor_size,
                     self.choice_predictor_size):
            if size < 2 or size & (size - 1):
                raise ValueError(f"predictor table size {size}: a power of two")

    @property
    def local_history_bits(self) -> int:
        return self.local_predictor_size.bit_length() - 1

    @property
    def global_history_bits(self) -> int:
        return max(self.global_predictor_size, self.choice_predictor_size).bit_length() - 1

    def state(self) -> np.ndarray:
        """Cleared predictor as rows (state + constants, stamp, saved value, touched list)."""
        n = self.local_history_table_size + self.local_predictor_size + self.global_predictor_size \
            + self.choice_predictor_size + 1
        s = np.zeros((4, n + _NCONST), np.int64)
        s[0, n:n + 13] = (self.local_history_table_size, self.local_predictor_size, self.global_predictor_size,
                          self.choice_predictor_size, (1 << self.local_history_bits) - 1,
                          (1 << self.global_history_bits) - 1, (1 << self.local_ctr_bits) - 1,
                          (1 << self.global_ctr_bits) - 1, (1 << self.choice_ctr_bits) - 1,
                          (1 << (self.local_ctr_bits - 1)) - 1, (1 << (self.global_ctr_bits - 1)) - 1,
                          (1 << (self.choice_ctr_bits - 1)) - 1, self.inst_shift)
        s[0, n + 13] = n  # offset of the constants; n + 14: segment id, n + 15: entries touched in it
        s[1] = -1
        return s


GEM5_TOURNAMENT = TournamentConfig()


@dataclass(frozen=True)
class CodeLayout:
    """Addresses of the GEMM's branches (only their local-history slots matter: distinct here)."""

    chk_pc: int = 0x401010
    word_loop_pc: int = 0x401028
    middle_loop_pc: int = 0x401040
    outer_loop_pc: int = 0x401060
    chk_taken_on_hit: bool = True

    def pcs(self) -> np.ndarray:
        return np.array([self.chk_pc, self.word_loop_pc, self.middle_loop_pc, self.outer_loop_pc], np.int64)


DARKNET_LAYOUT = CodeLayout()


@njit(cache=True)
def _put(s, idx, value):
    """Write one predictor entry, remembering its value at the segment start (fixed-point test)."""
    seg = s[0, s.shape[1] - 2]
    if s[1, idx] != seg:
        s[1, idx] = seg
        s[2, idx] = s[0, idx]
        s[3, s[0, s.shape[1] - 1]] = idx
        s[0, s.shape[1] - 1] += 1
    s[0, idx] = value


@njit(cache=True)
def _step(s, pc, taken):
    """Predict one conditional branch, then update (gem5 TournamentBP); True if mispredicted."""
    c = s[0, s.shape[1] - 3]
    lht, lps, gps, cps = s[0, c], s[0, c + 1], s[0, c + 2], s[0, c + 3]
    o_lc, o_gc = lht, lht + lps
    o_cc = o_gc + gps
    o_gh = o_cc + cps
    li = (pc >> s[0, c + 12]) & (lht - 1)
    lh = s[0, li] & s[0, c + 4]
    gh = s[0, o_gh]
    gi, ci = gh & (gps - 1), gh & (cps - 1)
    lp = s[0, o_lc + lh] > s[0, c + 9]
    gp = s[0, o_gc + gi] > s[0, c + 10]
    pred = gp if s[0, o_cc + ci] > s[0, c + 11] else lp
    if lp != gp:
        cc = s[0, o_cc + ci]
        _put(s, o_cc + ci, max(cc - 1, 0) if lp == taken else min(cc + 1, s[0, c + 8]))
    g, lc = s[0, o_gc + gi], s[0, o_lc + lh]
    _put(s, o_gc + gi, min(g + 1, s[0, c + 7]) if taken else max(g - 1, 0))
    _put(s, o_lc + lh, min(lc + 1, s[0, c + 6]) if taken else max(lc - 1, 0))
    _put(s, li, ((s[0, li] << 1) | taken) & s[0, c + 4])
    _put(s, o_gh, ((gh << 1) | taken) & s[0, c + 5])
    return pred != taken


@njit(cache=True)
def _sequence(s, pcs, taken):
    out = np.empty(pcs.shape[0], np.bool_)
    for i in range(pcs.shape[0]):
        out[i] = _step(s, pcs[i], taken[i])
    return out


def predict_sequence(pcs, taken, cfg: TournamentConfig = GEM5_TOURNAMENT) -> np.ndarray:
    """Mispredictions (bool per branch) of an explicit (pc, taken) sequence from a cleared predictor."""
    pcs = np.asarray(pcs, dtype=np.int64)
    taken = np.broadcast_to(np.asarray(taken, dtype=np.bool_), pcs.shape)
    return _sequence(cfg.state(), pcs, np.ascontiguousarray(taken))


@njit(cache=True)
def _segment(s, n, hits, bdpe, chk_hit_taken, middle_taken, pcs, out):
    """One middle-loop iteration: ``n`` words (CHK test if ``bdpe``: the first ``hits`` words are in
    RRAM; word-loop branch), then the middle-loop branch. Adds mispredictions per kind to ``out``
    and returns True if the predictor state is back to its value at the segment start."""
    s[0, s.shape[1] - 2] += 1  # new segment id
    s[0, s.shape[1] - 1] = 0   # touched entries
    for w in range(n):
        if bdpe:
            out[0] += _step(s, pcs[0], (w < hits) == chk_hit_taken)
        out[1] += _step(s, pcs[1], w < n - 1)
    out[2] += _step(s, pcs[2], middle_taken)
    for t in range(s[0, s.shape[1] - 1]):
        if s[0, s[3, t]] != s[2, s[3, t]]:
            return False
    return True


@njit(cache=True)
def _hits(m, f, n):
    """Words of filter f in RRAM (the fill is the first m words of the kernel matrix)."""
    return min(max(m - f * n, 0), n)


@njit(cache=True)
def _layer(s, outer, inner, n, m, fo, bdpe, chk_hit_taken, pcs, out):
    """Every branch of a layer's GEMM; identical segments after a fixed point are multiplied."""
    seg = np.zeros(4, np.int64)
    for a in range(outer):
        b = 0
        while b < inner:
            hits = _hits(m, a if fo else b, n)
            last = b == inner - 1
            end = b + 1  # segments [b, end) are identical (same row, middle branch taken)
            while not last and end < inner - 1 and (fo or _hits(m, end, n) == hits):
                end += 1
            while b < end:
                seg[:] = 0
                fixed = _segment(s, n, hits, bdpe, chk_hit_taken, not last, pcs, seg)
                b += 1
                repeat = end - b if fixed and not last else 0
                for k in range(3):
                    out[k] += seg[k] * (1 + repeat)
                b += repeat
        out[3] += _step(s, pcs[3], a < outer - 1)


@functools.lru_cache(maxsize=1024)
def layer_mispredictions(geom, m: int, bdpe: bool, nest, layout: CodeLayout = DARKNET_LAYOUT,
                         cfg: TournamentConfig = GEM5_TOURNAMENT) -> np.ndarray:
    """Mispredictions per branch kind (``KINDS``) of one binary layer's GEMM, exact."""
    out = np.zeros(4, np.int64)
    outer, inner = (geom.filters, geom.pixels) if nest.filter_outer else (geom.pixels, geom.filters)
    _layer(cfg.state(), outer, inner, geom.words, int(m), nest.filter_outer, bool(bdpe), layout.chk_taken_on_hit,
           layout.pcs(), out)
    out.setflags(write=False)  # cached: shared by every caller
    return out


def branch_events(geom, m: int, bdpe: bool, nest, layout: CodeLayout = DARKNET_LAYOUT):
    """The explicit (pc, taken, kind) stream of a layer's GEMM (numpy; small layers and tests)."""
    pcs, taken, kinds = [], [], []
    outer, inner = (geom.filters, geom.pixels) if nest.filter_outer else (geom.pixels, geom.filters)
    p = layout.pcs()
    for a in range(outer):
        for b in range(inner):
            f = a if nest.filter_outer else b
            for w in range(geom.words):
                if bdpe:
                    pcs.append(p[0]), taken.append((f * geom.words + w < m) == layout.chk_taken_on_hit), kinds.append(0)
                pcs.append(p[1]), taken.append(w < geom.words - 1), kinds.append(1)
            pcs.append(p[2]), taken.append(b < inner - 1), kinds.append(2)
        pcs.append(p[3]), taken.append(a < outer - 1), kinds.append(3)
    return np.array(pcs, np.int64), np.array(taken, np.bool_), np.array(kinds, np.int8)
