"""Compiled XNOR-popcount kernels (numba): the packed engine's hot loops.

* :func:`pack_patches` packs the receptive field of every output pixel straight from the (C, H, W)
  input into 64-bit words, without materialising im2col: each input pixel's channels are packed
  once (``C`` bits), then every tap appends them to the pixel's bit stream. The bit order inside a
  patch is (ky, kx, c); the weights are packed in the same order (:func:`pack_weights`), so the dot
  products are those of the (c, ky, kx) order and the word count per patch, ``ceil(C*k*k/64)``
  (one BDP each), is unchanged. Padded taps are cleared in a validity mask, as in the numpy path.
* :func:`xnor_popcount` computes ``2 * popcount(~(x ^ w) & valid) - popcount(valid)`` for every
  (filter, pixel) pair with the CPU's popcount instruction (``llvm.ctpop.i64``), blocked so that a
  tile of pixels stays in L1 while a block of filters passes over it, four filters per loaded input
  word (register blocking), threads over filter blocks
  (``numba.prange``; ``NUMBA_NUM_THREADS`` or ``numba.set_num_threads`` sets how many).

Bit-exactness against the float reference is tested in tests/test_system_model.py.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["pack_patches", "pack_weights", "xnor_popcount", "PIXEL_TILE", "FILTER_BLOCK"]

PIXEL_TILE = 128   # pixels whose packed patches (x and mask) are reused from L1 by a filter block
FILTER_BLOCK = 8   # filters per parallel work item


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
def _append(row, pos, value, nbits):
    """OR the low ``nbits`` bits of ``value`` into the bit stream ``row`` at bit ``pos``."""
    word = pos >> 6
    off = pos & 63
    row[word] |= value << np.uint64(off)
    if off + nbits > 64:
        row[word + 1] |= value >> np.uint64(64 - off)


@njit(cache=True, parallel=True)
def _channel_words(x):
    """(C, H, W) int8 -> per pixel: packed ``x > 0`` and ``x != 0`` over channels, (H, W, ceil(C/64))."""
    c, h, w = x.shape
    cw = (c + 63) // 64
    pos = np.zeros((h, w, cw), dtype=np.uint64)
    nz = np.zeros((h, w, cw), dtype=np.uint64)
    for iy in prange(h):
        for ix in range(w):
            for ch in range(c):
                v = x[ch, iy, ix]
                bit = np.uint64(1) << np.uint64(ch & 63)
                if v > 0:
                    pos[iy, ix, ch >> 6] |= bit
                if v != 0:
                    nz[iy, ix, ch >> 6] |= bit
    return pos, nz


@njit(cache=True, parallel=True)
def _pack(pos, nz, c, k, stride, pad, oh, ow):
    h, w, cw = pos.shape
    words = (c * k * k + 63) // 64
    xb = np.zeros((oh * ow, words), dtype=np.uint64)
    vb = np.zeros((oh * ow, words), dtype=np.uint64)
    for p in prange(oh * ow):
        oy = p // ow
        ox = p - oy * ow
        bit = 0
        for ky in range(k):
            iy = oy * stride - pad + ky
            for kx in range(k):
                ix = ox * stride - pad + kx
                if 0 <= iy < h and 0 <= ix < w:
                    for j in range(cw):
                        nbits = min(64, c - 64 * j)
                        _append(xb[p], bit + 64 * j, pos[iy, ix, j], nbits)
                        _append(vb[p], bit + 64 * j, nz[iy, ix, j], nbits)
                bit += c
    return xb, vb


def pack_patches(x: np.ndarray, k: int, stride: int, pad: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(C, H, W) +-1/0 int8 -> (x bits, valid bits) of shape (oh*ow, ceil(C*k*k/64)), oh, ow."""
    c, h, w = x.shape
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    pos, nz = _channel_words(np.ascontiguousarray(x, dtype=np.int8))
    xb, vb = _pack(pos, nz, c, k, stride, pad, oh, ow)
    return xb, vb, oh, ow


def pack_weights(w: np.ndarray) -> np.ndarray:
    """(F, C, k, k) +-1 -> (F, ceil(C*k*k/64)) uint64 in the (ky, kx, c) bit order of :func:`pack_patches`."""
    f, c, k, _ = w.shape
    bits = np.ascontiguousarray(np.transpose(np.asarray(w) > 0, (0, 2, 3, 1))).reshape(f, -1)
    n = bits.shape[1]
    words = -(-n // 64)
    padded = np.zeros((f, words * 64), dtype=bool)
    padded[:, :n] = bits
    return np.packbits(padded, axis=-1, bitorder="little").view("<u8").reshape(f, words)


@njit(cache=True, parallel=True)
def xnor_popcount(xb, vb, wb):
    """(P, W) x bits, (P, W) valid bits, (F, W) weight bits -> (F, P) int64 +-1 dot products."""
    p_count, words = xb.shape
    f_count = wb.shape[0]
    out = np.empty((f_count, p_count), dtype=np.int64)
    n_valid = np.empty(p_count, dtype=np.int64)
    for p in range(p_count):
        acc = 0
        for j in range(words):
            acc += _popcount64(vb[p, j])
        n_valid[p] = acc
    n_blocks = (f_count + FILTER_BLOCK - 1) // FILTER_BLOCK
    for blk in prange(n_blocks):
        f0 = blk * FILTER_BLOCK
        f1 = min(f0 + FILTER_BLOCK, f_count)
        for p0 in range(0, p_count, PIXEL_TILE):
            p1 = min(p0 + PIXEL_TILE, p_count)
            f = f0
            while f + 4 <= f1:  # four filters per loaded input word: fewer loads per popcount
                for p in range(p0, p1):
                    a0 = a1 = a2 = a3 = 0
                    for j in range(words):
                        x, v = xb[p, j], vb[p, j]
                        a0 += _popcount64(~(x ^ wb[f, j]) & v)
                        a1 += _popcount64(~(x ^ wb[f + 1, j]) & v)
                        a2 += _popcount64(~(x ^ wb[f + 2, j]) & v)
                        a3 += _popcount64(~(x ^ wb[f + 3, j]) & v)
                    nv = n_valid[p]
                    out[f, p] = 2 * a0 - nv
                    out[f + 1, p] = 2 * a1 - nv
                    out[f + 2, p] = 2 * a2 - nv
                    out[f + 3, p] = 2 * a3 - nv
                f += 4
            for ff in range(f, f1):  # the remaining filters of the block
                for p in range(p0, p1):
                    acc = 0
                    for j in range(words):
                        acc += _popcount64(~(xb[p, j] ^ wb[ff, j]) & vb[p, j])
                    out[ff, p] = 2 * acc - n_valid[p]
    return out
