"""Data-cache model of the paper's platform: an exact LRU simulation of L1D and L2 (numba).

Geometry (Vieira et al. 2019, gem5 classic caches): L1D 32 KiB, 2-way; L2 1 MiB, 2-way; 64-byte
lines; DRAM behind. Policy, as gem5's classic caches: write-back, write-allocate, LRU within a set,
L2 looked up on an L1 miss and filled with the line (mostly inclusive, no back-invalidation); a
dirty line evicted from L1 is written into L2 (allocated there if absent), a dirty line evicted
from L2 is one DRAM write. No prefetcher (the paper's L2 has none).

Every access is classified by the level that served it: 0 = L1 hit, 1 = L2 hit, 2 = DRAM. The
binary GEMM's streams (:mod:`system_model.loopnest`) are generated inside the compiled kernel, so a
whole yolov3-tiny run (~88 M accesses) takes a fraction of a second; :func:`simulate_stream` runs an
explicit address list (tests compare it with a brute-force LRU).

Counters of one layer simulation (``layer_memory``), a vector of ``N_COUNTERS`` int64:

* ``BASE + 3*a + b``: iterations of the baseline kind, input load served by level ``a``, kernel
  load by level ``b`` (the two loads are issued back to back: their misses overlap);
* ``HIT + a``: BDPE iterations whose kernel word is in RRAM (only the input load);
* ``MISS + 3*a + b``: BDPE iterations whose kernel word is not in RRAM (input load, then after the
  CHK branch the kernel load: serial);
* ``STORE + l``: output stores (one float per dot product) by level;
* ``WB_L1``: dirty L1 evictions written into L2; ``WB_L2``: dirty L2 evictions (DRAM writes).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["CacheLevel", "MemoryHierarchy", "PAPER_MEMORY", "simulate_stream", "layer_memory",
           "BASE", "HIT", "MISS", "STORE", "WB_L1", "WB_L2", "N_COUNTERS", "LEVELS"]

LEVELS = ("l1", "l2", "dram")
BASE, HIT, MISS, STORE, WB_L1, WB_L2 = 0, 9, 12, 21, 24, 25
N_COUNTERS = 26


@dataclass(frozen=True)
class CacheLevel:
    size_bytes: int
    ways: int
    line_bytes: int = 64

    @property
    def sets(self) -> int:
        return self.size_bytes // (self.ways * self.line_bytes)


@dataclass(frozen=True)
class MemoryHierarchy:
    """Cache geometry (latencies are the platform's: ``load``, ``l2``, ``dram`` in its latency table)."""

    l1d: CacheLevel = CacheLevel(32 * 1024, 2)
    l2: CacheLevel = CacheLevel(1024 * 1024, 2)
    source: str = "Vieira et al. 2019 gem5 platform: L1D 32 KiB 2-way, L2 1 MiB 2-way, 64 B lines, DDR4-2400"

    def __post_init__(self):
        for level in (self.l1d, self.l2):
            sets = level.sets
            if sets < 1 or sets & (sets - 1) or level.line_bytes != self.l1d.line_bytes:
                raise ValueError(f"cache geometry {level}: sets must be a power of two, one line size")

    def state(self) -> np.ndarray:
        """Empty caches as one flat int64 array (see ``_offsets``): tags (-1 = invalid), LRU stamps
        and dirty bits of L1 then L2, then the clock, the way of the last access and the two
        writeback counters."""
        n1, n2 = self.l1d.sets * self.l1d.ways, self.l2.sets * self.l2.ways
        st = np.zeros(3 * n1 + 3 * n2 + 4, np.int64)
        st[:n1] = -1
        st[3 * n1:3 * n1 + n2] = -1
        return st

    def dims(self) -> tuple[int, int, int, int, int]:
        """(L1 sets, L1 ways, L2 sets, L2 ways, log2 line bytes) for the compiled kernels."""
        return (self.l1d.sets, self.l1d.ways, self.l2.sets, self.l2.ways, self.l1d.line_bytes.bit_length() - 1)


PAPER_MEMORY = MemoryHierarchy()


@njit(cache=True, inline="always")
def _offsets(s1, w1, s2, w2):
    """Offsets in the flat state: L1 stamps, L1 dirty, L2 tags, L2 stamps, L2 dirty, clock
    (clock + 1: way of the last L1 access, + 2: L1 writebacks, + 3: L2 writebacks)."""
    n1, n2 = s1 * w1, s2 * w2
    return n1, 2 * n1, 3 * n1, 3 * n1 + n2, 3 * n1 + 2 * n2, 3 * n1 + 3 * n2


@njit(cache=True)
def _place(st, tags, stamps, dirty, base, ways, line):
    """Slot of ``line`` in the set starting at ``base`` (found, else the empty or LRU way, whose
    old line is reported); returns (slot, found, old line, old line dirty)."""
    victim = base
    for w in range(ways):
        i = base + w
        if st[tags + i] == line:
            return i, True, line, False
        if st[tags + victim] >= 0 and (st[tags + i] < 0 or st[stamps + i] < st[stamps + victim]):
            victim = i
    return victim, False, st[tags + victim], st[tags + victim] >= 0 and st[dirty + victim] != 0


@njit(cache=True)
def _l2(st, line, write, s1, w1, s2, w2):
    """Install or update ``line`` in L2 (a write marks it dirty); True if it was there."""
    o_s1, o_d1, o_t2, o_s2, o_d2, o_clk = _offsets(s1, w1, s2, w2)
    slot, found, _old, old_dirty = _place(st, o_t2, o_s2, o_d2, (line & (s2 - 1)) * w2, w2, line)
    if not found:
        st[o_clk + 3] += old_dirty
        st[o_t2 + slot] = line
        st[o_d2 + slot] = 0
    st[o_clk] += 1
    st[o_s2 + slot] = st[o_clk]
    if write:
        st[o_d2 + slot] = 1
    return found


@njit(cache=True)
def _access(st, line, write, s1, w1, s2, w2):
    """One access to ``line``; returns the level that served it (0 L1, 1 L2, 2 DRAM) and leaves
    the L1 way it now occupies in the state."""
    o_s1, o_d1, o_t2, o_s2, o_d2, o_clk = _offsets(s1, w1, s2, w2)
    base = (line & (s1 - 1)) * w1
    slot, found, old, old_dirty = _place(st, 0, o_s1, o_d1, base, w1, line)
    level = 0
    if not found:
        level = 1 if _l2(st, line, False, s1, w1, s2, w2) else 2
        if old_dirty:
            st[o_clk + 2] += 1
            _l2(st, old, True, s1, w1, s2, w2)
        st[slot] = line
        st[o_d1 + slot] = 0
    st[o_clk] += 1
    st[o_s1 + slot] = st[o_clk]
    if write:
        st[o_d1 + slot] = 1
    st[o_clk + 1] = slot
    return level


@njit(cache=True)
def _stream(lines, writes, st, s1, w1, s2, w2):
    levels = np.empty(lines.shape[0], np.int8)
    for i in range(lines.shape[0]):
        levels[i] = _access(st, lines[i], writes[i], s1, w1, s2, w2)
    return levels


def simulate_stream(addresses, writes=None, hierarchy: MemoryHierarchy = PAPER_MEMORY):
    """Levels (0 L1, 1 L2, 2 DRAM) serving each byte address of ``addresses`` in order, from empty
    caches, and the writeback counters (``{"l1_writebacks", "dram_writes"}``)."""
    addresses = np.asarray(addresses, dtype=np.int64)
    writes = np.zeros(addresses.shape, np.bool_) if writes is None else np.asarray(writes, dtype=np.bool_)
    s1, w1, s2, w2, shift = hierarchy.dims()
    st = hierarchy.state()
    levels = _stream(addresses >> shift, writes, st, s1, w1, s2, w2)
    return levels, {"l1_writebacks": int(st[-2]), "dram_writes": int(st[-1])}


@njit(cache=True)
def _warm(st, ibase, nbytes, s1, w1, s2, w2, shift):
    """The packing pass before the GEMM writes the input matrix once (not counted)."""
    for addr in range(ibase, ibase + nbytes, 1 << shift):
        _access(st, addr >> shift, True, s1, w1, s2, w2)
    st[-2:] = 0


@njit(cache=True)
def _gemm(outer, inner, n, stride, m, bdpe, fo, kbase, ibase, obase, npix, f_lo, dims, st, rows):
    """The word loop of every dot product of the layer (see :mod:`system_model.loopnest`): input
    word, then kernel word unless in RRAM; one output store per dot product. Per stream the line
    and L1 slot of its last access are kept: touching that line again while it still sits in that
    slot is an L1 hit, recorded without a call (what ``_access`` would do)."""
    s1, w1, s2, w2, shift = dims[0], dims[1], dims[2], dims[3], dims[4]
    o_s1, o_d1, o_t2, o_s2, o_d2, o_clk = _offsets(s1, w1, s2, w2)
    _warm(st, ibase, npix * stride, s1, w1, s2, w2, shift)
    last = np.full(6, -1, np.int64)  # (line, slot) of the input, kernel and output streams
    clock = st[o_clk]
    for a in range(outer):
        for b in range(inner):
            f = f_lo + (a if fo else b)
            j = b if fo else a
            r = f - f_lo
            lv_a = 0
            for w in range(n):
                for k in range(2):
                    if k == 1 and bdpe and f * n + w < m:
                        rows[r, HIT + lv_a] += 1
                        break
                    line = ((ibase + j * stride if k == 0 else kbase + f * stride) + 8 * w) >> shift
                    if last[2 * k] == line and st[last[2 * k + 1]] == line:
                        clock += 1
                        st[o_s1 + last[2 * k + 1]] = clock
                        lv = 0
                    else:
                        st[o_clk] = clock
                        lv = _access(st, line, False, s1, w1, s2, w2)
                        clock = st[o_clk]
                        last[2 * k], last[2 * k + 1] = line, st[o_clk + 1]
                    if k == 0:
                        lv_a = lv
                    else:
                        rows[r, (MISS if bdpe else BASE) + 3 * lv_a + lv] += 1
            line = (obase + 4 * (f * npix + j)) >> shift
            if last[4] == line and st[last[5]] == line:
                clock += 1
                st[o_s1 + last[5]] = clock
                st[o_d1 + last[5]] = 1
                rows[r, STORE] += 1
            else:
                st[o_clk] = clock
                rows[r, STORE + _access(st, line, True, s1, w1, s2, w2)] += 1
                clock = st[o_clk]
                last[4], last[5] = line, st[o_clk + 1]
            if fo and b == inner - 1:  # writebacks so far, charged to filter f
                rows[r, WB_L1], rows[r, WB_L2] = st[o_clk + 2], st[o_clk + 3]


def _run(geom, m, bdpe, nest, hierarchy, f_lo, f_hi) -> np.ndarray:
    """Per-filter counters (f_hi - f_lo, N_COUNTERS) of filters [f_lo, f_hi), from empty caches after
    a warm-up that writes the packed input matrix once (the packing pass that precedes the GEMM;
    not counted)."""
    dims = np.array(hierarchy.dims(), np.int64)
    st = hierarchy.state()
    stride = nest.row_bytes(geom.words)
    rows = np.zeros((f_hi - f_lo, N_COUNTERS), np.int64)
    nf = f_hi - f_lo
    outer, inner = (nf, geom.pixels) if nest.filter_outer else (geom.pixels, nf)
    _gemm(outer, inner, geom.words, stride, int(m), bool(bdpe), nest.filter_outer, nest.kernel_base,
          nest.input_base, nest.output_base, geom.pixels, f_lo, dims, st, rows)
    if nest.filter_outer:  # cumulative writeback snapshots -> per filter
        rows[1:, WB_L1:] -= rows[:-1, WB_L1:].copy()
    else:
        rows[0, WB_L1:] = st[-2:]
    return rows


@functools.lru_cache(maxsize=512)
def layer_memory(geom, m: int, bdpe: bool, nest, hierarchy: MemoryHierarchy = PAPER_MEMORY):
    """Counters (see the module docstring) of one binary layer's GEMM and an absolute error bound
    per counter: an exact LRU simulation of every access (bound 0), or, above
    ``nest.sample_accesses`` accesses in filter-outer order, :func:`sampled_layer_memory`."""
    if nest.accesses(geom) <= nest.sample_accesses or not nest.filter_outer:
        counts = _run(geom, m, bdpe, nest, hierarchy, 0, geom.filters).sum(axis=0).astype(np.float64)
        bound = np.zeros(N_COUNTERS)
    else:
        counts, bound = sampled_layer_memory(geom, m, bdpe, nest, hierarchy)
    counts.setflags(write=False)  # cached: shared by every caller
    bound.setflags(write=False)
    return counts, bound


def sampled_layer_memory(geom, m: int, bdpe: bool, nest, hierarchy: MemoryHierarchy = PAPER_MEMORY,
                         blocks: int = 8):
    """Sampling for long layers (filter-outer order). Every filter streams the same input matrix;
    filters differ only in their kernel row, their output row and which of their words are in RRAM
    (their *kind*: all, none or some). ``blocks`` blocks of consecutive filters, spread evenly over
    the layer (plus the filter holding the fill boundary), are simulated from empty caches, each
    after the input-packing warm-up and one warm-up filter whose counts are dropped. Each unsampled
    filter is counted at the mean per-filter counters of the sampled filters of its kind. Error
    bound per counter: the number of unsampled filters times the spread (max - min) of the sampled
    per-filter counters of their kind (an empirical bound: it assumes an unsampled filter behaves
    like some sampled one, which holds because filters differ only by where their kernel and
    output rows fall in the cache sets)."""
    n, nf = geom.words, geom.filters
    per_filter = max(1, nest.accesses(geom) // nf)
    per_block = max(2, nest.sample_accesses // (blocks * per_filter))
    starts = {int(x) for x in np.linspace(0, max(0, nf - per_block), blocks)}
    if 0 < m < nf * n:
        starts.add(min(int(m) // n, nf - 1))
    measured = {}
    for f0 in sorted(starts):
        lo, hi = max(0, f0 - 1), min(nf, f0 + per_block)
        rows = _run(geom, m, bdpe, nest, hierarchy, lo, hi)
        for f in range(f0, hi):
            measured.setdefault(f, rows[f - lo])
    total = np.sum(list(measured.values()), axis=0).astype(np.float64)
    by_kind: dict[int, list] = {}
    for f, row in measured.items():
        by_kind.setdefault(_kind(f, m, n), []).append(row)
    stats = {k: (np.mean(v, axis=0), np.ptp(v, axis=0)) for k, v in by_kind.items()}
    bound = np.zeros(N_COUNTERS)
    for f in range(nf):
        if f not in measured:
            mean, spread = stats.get(_kind(f, m, n)) or next(iter(stats.values()))
            total += mean
            bound += spread
    return total, bound


def _kind(f: int, m: int, n: int) -> int:
    """0 all words of filter f in RRAM, 1 none, 2 some."""
    hits = min(max(m - f * n, 0), n)
    return 0 if hits == n else 1 if hits == 0 else 2
