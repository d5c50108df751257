"""Compiled XNOR-popcount kernels (numba): the packed engine's hot loops.

One binary convolution of a +-1 int8 input (C, H, W) with F filters (C, k, k), stride s, zero padding p:

* :func:`pack_windows` (the activation side; a network runs it on every layer's input) packs, for
  every padded row ``iy`` and start column ``ix``, the ``k*C`` bits of pixels ``ix .. ix+k-1`` in
  (kx, c) order (bit ``kx*C + c``; padded pixels are 0 bits) into ``ceil(k*C/64)`` words
  ``win[iy, :, ix]``: the window one kernel row sees. Each row's pixels are packed once, in
  32-channel groups, then ORed into the windows at fixed bit offsets (loops vectorised over the row).
* :func:`pack_weights` (the weight side, done once per layer) packs each filter's ``C*k*k`` bits in
  the (ky, kx, c) order into ``ceil(C*k*k/64)`` words, Darknet's word count: one BDP per word.
* :func:`binary_conv` assembles, for a tile of output pixels, each patch from its ``k`` windows,
  window ``ky`` at bit ``ky*k*C`` (the same (ky, kx, c) order, the same ``ceil(C*k*k/64)`` words),
  and computes ``C*k*k - 2*popcount(x ^ w)`` with the popcount intrinsic (``llvm.ctpop.i64``; LLVM
  vectorises the loops over the tile's pixels with AVX2 where the CPU has it), four filters per pass.
  Padded taps are 0 bits, i.e. counted as -1; the kernel adds back the filter's weight sum over the
  padded taps of border pixels (``tap_sums``), so no validity mask is needed. Threads (``numba.prange``;
  ``NUMBA_NUM_THREADS`` or ``numba.set_num_threads``) take (pixel tile, filter block) items.
* :func:`sign_threshold`: batch-norm + sign folded into a per-filter comparison, to +-1 int8;
  :func:`float_conv`: the float64 convolution of a network's full-precision layers.

Bit-exactness against the float reference is tested in tests/test_system_model.py.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["pack_windows", "pack_weights", "binary_conv", "sign_threshold", "float_conv", "PIXEL_TILE",
           "FILTER_BLOCK", "PARALLEL_PACK"]

PIXEL_TILE = 256   # output pixels per work item: every filter of the block passes over their patches
FILTER_BLOCK = 64  # filters per work item (threads take items: (filter block, pixel tile))
PARALLEL_PACK = 1 << 18  # input values from which activation packing is split over threads
_ONE = np.uint64(1)


@intrinsic
def _popcount64(typingctx, value):
    """The LLVM ctpop intrinsic on a uint64: one POPCNT instruction on x86-64 (CNT on ARM)."""
    sig = types.int64(types.uint64)  # a count: signed, so that sums stay integers in numba

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [ir.IntType(64)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.ctpop.i64")
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True, inline="always")
def _pack_pixels(x, iy, pad, pixels):
    """OR row ``iy`` of x into ``pixels[g, pad + ix]`` (bit ``c & 31`` of group ``g = c >> 5`` =
    ``x[c, iy, ix] >= 0``); returns a nonzero byte if a value of the row is not +-1."""
    c, _, w = x.shape
    bad = np.uint8(0)
    for ch in range(c):  # per channel, vectorised over the row's pixels
        shift = np.uint32(ch & 31)
        dst = pixels[ch >> 5, pad:pad + w]
        src = x[ch, iy]
        for ix in range(w):
            v = src[ix]
            bad |= (np.uint8(v) + np.uint8(1)) & np.uint8(0xFD)  # 0 exactly for -1 and +1
            dst[ix] |= np.uint32(v >= 0) << shift
    return bad


@njit(cache=True, inline="always")
def _pack_row_windows(x, k, pad, iy, win):
    """The windows of padded row ``iy + pad`` (see :func:`pack_windows`); a nonzero byte if a value
    of input row ``iy`` is not +-1."""
    c, _, w = x.shape
    nx = win.shape[2]
    pixels = np.zeros(((c + 31) >> 5, w + 2 * pad), dtype=np.uint32)
    bad = _pack_pixels(x, iy, pad, pixels)
    dst = win[iy + pad]
    for kx in range(k):
        for g in range(pixels.shape[0]):
            bit = kx * c + 32 * g
            shift = np.uint64(bit & 63)
            src = pixels[g, kx:kx + nx]
            lo = dst[bit >> 6]
            for ix in range(nx):
                lo[ix] |= np.uint64(src[ix]) << shift
            if (bit & 63) + min(32, c - 32 * g) > 64:  # the group straddles two words
                hi = dst[(bit >> 6) + 1]
                for ix in range(nx):
                    hi[ix] |= np.uint64(src[ix]) >> (np.uint64(64) - shift)
    return bad


@njit(cache=True, parallel=True)
def _windows_threads(x, k, pad, win, bad):
    for iy in prange(x.shape[1]):
        bad[iy] = _pack_row_windows(x, k, pad, iy, win)


@njit(cache=True)
def _windows_serial(x, k, pad, win, bad):
    for iy in range(x.shape[1]):
        bad[iy] = _pack_row_windows(x, k, pad, iy, win)


def pack_windows(x: np.ndarray, k: int, pad: int) -> tuple[np.ndarray, bool]:
    """(C, H, W) int8 -> (windows (H+2p, ceil(k*C/64), W+2p-k+1) uint64, all values +-1).

    Window bit ``kx*C + c`` of ``win[iy, :, ix]`` is padded pixel ``(iy, ix + kx)``, channel ``c``:
    each row's pixels are packed in 32-channel groups, then every group of every tap is ORed into
    the windows at its fixed bit offset (both loops vectorised over the row). Rows are split over
    threads for inputs of PARALLEL_PACK values or more (a smaller one costs less than the threads'
    start and join)."""
    c, h, w = x.shape
    win = np.zeros((h + 2 * pad, (k * c + 63) >> 6, max(w + 2 * pad - k + 1, 0)), dtype=np.uint64)
    bad = np.zeros(h, dtype=np.uint8)
    (_windows_threads if x.size >= PARALLEL_PACK else _windows_serial)(x, k, pad, win, bad)
    return win, not bad.any()


def pack_weights(w: np.ndarray) -> np.ndarray:
    """(F, C, k, k) +-1 -> (F, ceil(C*k*k/64)) uint64, bit ``(ky*k + kx)*C + c`` = ``w[f, c, ky, kx] > 0``."""
    f = w.shape[0]
    bits = np.ascontiguousarray(np.transpose(np.asarray(w) > 0, (0, 2, 3, 1))).reshape(f, -1)
    n = bits.shape[1]
    padded = np.zeros((f, -(-n // 64) * 64), dtype=bool)
    padded[:, :n] = bits
    return np.packbits(padded, axis=-1, bitorder="little").view("<u8").reshape(f, -1)


@njit(cache=True, inline="always")
def _tiling(oh, ow):
    """Pixel tiles of about PIXEL_TILE pixels, of equal size: a segment of one output row when rows
    are long, else whole rows -> (rows per tile, segments per row, segment length, tiles)."""
    if ow >= PIXEL_TILE:
        segments = (ow + PIXEL_TILE - 1) // PIXEL_TILE
        return 1, segments, (ow + segments - 1) // segments, oh * segments
    n = (oh + PIXEL_TILE // ow - 1) // (PIXEL_TILE // ow)
    rows = (oh + n - 1) // n
    return rows, 1, ow, (oh + rows - 1) // rows


@njit(cache=True, inline="always")
def _tile(t, oh, ow, tiling):
    """Tile ``t`` -> (first output row, rows, first column, columns)."""
    rows, segments, length, _ = tiling
    oy = (t // segments) * rows
    ox = (t % segments) * length
    return oy, min(rows, oh - oy), ox, min(length, ow - ox)


@njit(cache=True, inline="always")
def _gather(win, kc, k, stride, oy0, rows, ox0, cols, xs):
    """Patches of the tile into ``xs[word, pixel]`` (zeroed, one spare word): window ky at bit ky*kc."""
    for r in range(rows):
        iy = (oy0 + r) * stride
        for ky in range(k):
            for j in range(win.shape[1]):
                bit = ky * kc + 64 * j
                shift = np.uint64(bit & 63)
                src = win[iy + ky, j]
                lo = xs[bit >> 6, r * cols:(r + 1) * cols]
                hi = xs[(bit >> 6) + 1, r * cols:(r + 1) * cols]
                for q in range(cols):
                    v = src[(ox0 + q) * stride]
                    lo[q] |= v << shift
                    hi[q] |= (v >> _ONE) >> (np.uint64(63) - shift)


@njit(cache=True, inline="always")
def _dots(xs, npx, wb, f0, f1, n, out, p0, acc):
    """``out[f, p0 + p] = n - 2 * sum_j popcount(xs[j, p] ^ wb[f, j])`` for filters f0..f1-1, four
    filters per pass over the tile (vectorised over pixels); the last pass of a block repeats its
    last filter where fewer than four remain (the same value written twice)."""
    last = wb.shape[1] - 1
    a0, a1, a2, a3 = acc[0, :npx], acc[1, :npx], acc[2, :npx], acc[3, :npx]
    for f in range(f0, f1, 4):
        g1, g2, g3 = min(f + 1, f1 - 1), min(f + 2, f1 - 1), min(f + 3, f1 - 1)
        x = xs[0, :npx]
        w0, w1, w2, w3 = wb[f, 0], wb[g1, 0], wb[g2, 0], wb[g3, 0]
        if last == 0:  # one word: it is the last
            acc[:, :npx] = 0
        else:
            for p in range(npx):  # word 0
                v = x[p]
                a0[p] = _popcount64(v ^ w0)
                a1[p] = _popcount64(v ^ w1)
                a2[p] = _popcount64(v ^ w2)
                a3[p] = _popcount64(v ^ w3)
        for j in range(1, last):
            x = xs[j, :npx]
            w0, w1, w2, w3 = wb[f, j], wb[g1, j], wb[g2, j], wb[g3, j]
            for p in range(npx):
                v = x[p]
                a0[p] += _popcount64(v ^ w0)
                a1[p] += _popcount64(v ^ w1)
                a2[p] += _popcount64(v ^ w2)
                a3[p] += _popcount64(v ^ w3)
        x = xs[last, :npx]
        w0, w1, w2, w3 = wb[f, last], wb[g1, last], wb[g2, last], wb[g3, last]
        o0, o1, o2, o3 = out[f, p0:p0 + npx], out[g1, p0:p0 + npx], out[g2, p0:p0 + npx], out[g3, p0:p0 + npx]
        for p in range(npx):
            v = x[p]
            o0[p] = n - 2 * (a0[p] + _popcount64(v ^ w0))
            o1[p] = n - 2 * (a1[p] + _popcount64(v ^ w1))
            o2[p] = n - 2 * (a2[p] + _popcount64(v ^ w2))
            o3[p] = n - 2 * (a3[p] + _popcount64(v ^ w3))


@njit(cache=True, inline="always")
def _dots_few_pixels(xs, npx, wb, f0, f1, n, out, p0):
    """:func:`_dots` for tiles of a few pixels (dense layers: one), vectorised over the words."""
    x = np.empty(wb.shape[1], dtype=np.uint64)
    for p in range(npx):
        x[:] = xs[:wb.shape[1], p]  # contiguous
        for f in range(f0, f1):
            w = wb[f]
            acc = 0
            for j in range(x.shape[0]):
                acc += _popcount64(x[j] ^ w[j])
            out[f, p0 + p] = n - 2 * acc


@njit(cache=True, inline="always")
def _border(tap_sums, k, stride, pad, h, w, tile, f0, f1, out, p0, corr):
    """Add back, for the tile's pixels whose receptive field leaves the input, the weight sum over
    their padded taps (read as -1 inputs). ``tap_sums[ky*k + kx, f]``; ``corr``: FILTER_BLOCK scratch."""
    oy0, rows, ox0, cols = tile
    first = (pad + stride - 1) // stride  # output columns [first, end) have all their taps inside
    end = max((w - k + pad) // stride + 1, first)
    prev = -1
    for r in range(rows):
        iy0 = (oy0 + r) * stride - pad
        ky0, ky1 = max(0, -iy0), min(k, h - iy0)  # the kernel rows inside the input
        q = 0
        while q < cols:
            if ky0 == 0 and ky1 == k and first <= ox0 + q < end:
                q = end - ox0
                continue
            ix0 = (ox0 + q) * stride - pad
            kx0, kx1 = max(0, -ix0), min(k, w - ix0)
            key = ((ky0 * (k + 1) + ky1) * (k + 1) + kx0) * (k + 1) + kx1
            if key != prev:  # the correction of this class of border pixel, for the filter block
                prev = key
                corr[:] = 0
                for t in range(k * k):
                    if not (ky0 <= t // k < ky1 and kx0 <= t % k < kx1):
                        sums = tap_sums[t]
                        for f in range(f0, f1):
                            corr[f - f0] += sums[f]
            p = p0 + r * cols + q
            for f in range(f0, f1):
                out[f, p] += corr[f - f0]
            q += 1


@njit(cache=True, parallel=True)
def binary_conv(win, wb, tap_sums, c, k, stride, pad, h, w):
    """Windows of :func:`pack_windows`, weights (F, words) of :func:`pack_weights`, ``tap_sums[ky*k
    + kx, f] = sum_c weight[f, c, ky, kx]`` -> (F, oh*ow) int32 dot products of the +-1 convolution."""
    f_count, words = wb.shape
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    out = np.empty((f_count, oh * ow), dtype=np.int32)
    n_blocks = (f_count + FILTER_BLOCK - 1) // FILTER_BLOCK
    tiling = _tiling(oh, ow)
    n_tiles = tiling[3]
    for item in prange(n_blocks * n_tiles):  # threads split the filter blocks first, then the tiles
        tile = _tile(item % n_tiles, oh, ow, tiling)
        oy0, rows, ox0, cols = tile
        npx = rows * cols
        p0 = oy0 * ow + ox0
        f0 = (item // n_tiles) * FILTER_BLOCK
        f1 = min(f0 + FILTER_BLOCK, f_count)
        xs = np.zeros((words + 1, npx), dtype=np.uint64)
        _gather(win, k * c, k, stride, oy0, rows, ox0, cols, xs)
        if npx >= 8:
            _dots(xs, npx, wb, f0, f1, c * k * k, out, p0, np.empty((4, npx), dtype=np.int64))
        else:
            _dots_few_pixels(xs, npx, wb, f0, f1, c * k * k, out, p0)
        _border(tap_sums, k, stride, pad, h, w, tile, f0, f1, out, p0, np.empty(FILTER_BLOCK, dtype=np.int64))
    return out


@njit(cache=True)
def sign_threshold(dots, threshold, flip):
    """(F, P) dots -> (F, P) int8: +1 where ``dots >= threshold[f]`` (``<=`` where ``flip[f]``), else -1."""
    out = np.empty(dots.shape, dtype=np.int8)
    for f in range(dots.shape[0]):
        t = threshold[f]
        for p in range(dots.shape[1]):
            hit = dots[f, p] <= t if flip[f] else dots[f, p] >= t
            out[f, p] = 1 if hit else -1
    return out


@njit(cache=True, parallel=True)
def float_conv(x, w, stride, pad):
    """(C, H, W) float64, (F, C, k, k) float64 -> (F, oh, ow) float64 cross-correlation with zero
    padding, in the summation order of ``system_model.engine.float_conv2d``'s formula (per tap
    (ky, kx) the channel sum, the taps added in order): exactly equal for integer-valued inputs.
    Vectorised over filters; threads over output rows."""
    c, h, w_ = x.shape
    f, _, k, _ = w.shape
    wt = np.empty((k, k, c, f))
    for ch in range(c):
        for ky in range(k):
            for kx in range(k):
                wt[ky, kx, ch] = w[:, ch, ky, kx]
    xp = np.zeros((c, h + 2 * pad, w_ + 2 * pad))
    xp[:, pad:pad + h, pad:pad + w_] = x
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w_ + 2 * pad - k) // stride + 1
    out = np.empty((f, oh * ow))
    for oy in prange(oh):
        acc = np.empty(f)
        tap = np.empty(f)
        for ox in range(ow):
            acc[:] = 0.0
            for ky in range(k):
                for kx in range(k):
                    tap[:] = 0.0
                    for ch in range(c):
                        v = xp[ch, oy * stride + ky, ox * stride + kx]
                        wr = wt[ky, kx, ch]
                        for fi in range(f):
                            tap[fi] += v * wr[fi]
                    for fi in range(f):
                        acc[fi] += tap[fi]
            out[:, oy * ow + ox] = acc
    return out.reshape(f, oh, ow)
