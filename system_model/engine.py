"""Bit-exact functional BNN engine: bit-packed XNOR + popcount convolution and dense layers.

Values are +-1 (int8); zero padding is exact: padded positions are masked out of the popcount, so
``dot = 2 * popcount(~(x ^ w) & valid) - popcount(valid)``, which equals the integer convolution of
+-1 tensors with zero padding.  Patches are packed like Darknet's XNOR-Net: ``C_in*k*k`` bits in
``(c, ky, kx)`` order into ``ceil(C_in*k*k / 64)`` 64-bit words; one binary dot product (BDP) per word
per output pixel per filter, and the engine counts them as it goes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .networks import WORD_BITS, Network

__all__ = ["pack_bits", "im2col", "binary_conv2d", "binary_conv2d_numpy", "packed_dot_numpy", "float_conv2d",
           "binary_dense", "bn_thresholds", "run_network", "LayerCount"]


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack booleans along the last axis into uint64 words (bit i of word j = element 64*j + i)."""
    bits = np.asarray(bits, dtype=bool)
    n = bits.shape[-1]
    words = -(-n // WORD_BITS)
    padded = np.zeros(bits.shape[:-1] + (words * WORD_BITS,), dtype=bool)
    padded[..., :n] = bits
    packed = np.packbits(padded, axis=-1, bitorder="little")
    return packed.view("<u8").reshape(bits.shape[:-1] + (words,))


def im2col(x: np.ndarray, k: int, stride: int, pad: int) -> tuple[np.ndarray, int, int]:
    """(C, H, W) -> (out_h * out_w, C*k*k) patches in (c, ky, kx) order, zero padded."""
    c, h, w = x.shape
    xp = np.zeros((c, h + 2 * pad, w + 2 * pad), dtype=x.dtype)
    xp[:, pad:pad + h, pad:pad + w] = x
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    s0, s1, s2 = xp.strides
    view = np.lib.stride_tricks.as_strided(
        xp, shape=(oh, ow, c, k, k), strides=(s1 * stride, s2 * stride, s0, s1, s2), writeable=False)
    return view.reshape(oh * ow, c * k * k), oh, ow


def packed_dot_numpy(patches: np.ndarray, weights: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Integer dot products of +-1/0 patches (P, N) with +-1 weights (F, N) through packed words,
    in numpy: the previous engine, kept as a second implementation for tests and benchmarks."""
    x_bits = pack_bits(patches > 0)
    valid = pack_bits(patches != 0)
    w_bits = pack_bits(weights > 0)
    n_valid = np.bitwise_count(valid).sum(axis=1).astype(np.int64)
    out = np.empty((patches.shape[0], weights.shape[0]), dtype=np.int64)
    for f0 in range(0, weights.shape[0], chunk):
        wb = w_bits[None, f0:f0 + chunk, :]
        xnor = ~(x_bits[:, None, :] ^ wb) & valid[:, None, :]
        out[:, f0:f0 + chunk] = 2 * np.bitwise_count(xnor).sum(axis=2, dtype=np.int64) - n_valid[:, None]
    return out


def binary_conv2d(x: np.ndarray, w: np.ndarray, stride: int = 1, pad: int = 0) -> tuple[np.ndarray, int]:
    """+-1 input (C, H, W), +-1 weights (F, C, k, k) -> (integer output (F, oh, ow), BDPs performed).

    Compiled path (:mod:`system_model.kernels`): patches packed straight from the input, XNOR +
    popcount with the CPU's popcount instruction, threads over filter blocks."""
    from .kernels import pack_patches, pack_weights, xnor_popcount

    f = w.shape[0]
    xb, vb, oh, ow = pack_patches(np.asarray(x, dtype=np.int8), w.shape[2], stride, pad)
    dots = xnor_popcount(xb, vb, pack_weights(np.asarray(w, dtype=np.int8)))
    return dots.reshape(f, oh, ow), oh * ow * f * xb.shape[1]


def binary_conv2d_numpy(x: np.ndarray, w: np.ndarray, stride: int = 1, pad: int = 0) -> tuple[np.ndarray, int]:
    """:func:`binary_conv2d` through im2col and :func:`packed_dot_numpy` (the previous engine)."""
    f, c, k, _ = w.shape
    patches, oh, ow = im2col(np.asarray(x, dtype=np.int8), k, stride, pad)
    dots = packed_dot_numpy(patches, np.asarray(w, dtype=np.int8).reshape(f, -1))
    words = -(-c * k * k // WORD_BITS)
    return dots.T.reshape(f, oh, ow), oh * ow * f * words


def float_conv2d(x: np.ndarray, w: np.ndarray, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Float reference convolution (cross-correlation, zero padding) by direct summation over taps."""
    f, c, k, _ = w.shape
    xf = np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (pad, pad), (pad, pad)))
    oh = (xf.shape[1] - k) // stride + 1
    ow = (xf.shape[2] - k) // stride + 1
    out = np.zeros((f, oh, ow))
    for ky in range(k):
        for kx in range(k):
            tap = xf[:, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride]  # (C, oh, ow)
            out += np.einsum("fc,chw->fhw", np.asarray(w[:, :, ky, kx], dtype=np.float64), tap)
    return out


def binary_dense(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, int]:
    """+-1 vector (N,), +-1 weights (F, N) -> (integer outputs (F,), BDPs)."""
    from .kernels import xnor_popcount

    row = np.asarray(x, dtype=np.int8).reshape(1, -1)
    dots = xnor_popcount(pack_bits(row > 0), pack_bits(row != 0), pack_bits(np.asarray(w, dtype=np.int8) > 0))
    return dots[:, 0], w.shape[0] * (-(-w.shape[1] // WORD_BITS))


def bn_thresholds(gamma, beta, mean, var, eps: float = 1e-5):
    """Fold batch-norm + sign into integer comparisons: sign(gamma*(d-mean)/sqrt(var+eps)+beta).

    Returns (threshold, flip): output +1 where ``d >= threshold`` (or ``d <= threshold`` when flip).
    """
    gamma, beta, mean, var = (np.asarray(a, dtype=np.float64) for a in (gamma, beta, mean, var))
    threshold = mean - beta * np.sqrt(var + eps) / gamma
    return threshold, gamma < 0


def _apply_threshold(dots: np.ndarray, threshold, flip) -> np.ndarray:
    shape = (-1,) + (1,) * (dots.ndim - 1)
    t = np.asarray(threshold).reshape(shape)
    fl = np.asarray(flip).reshape(shape)
    return np.where(fl, dots <= t, dots >= t).astype(np.int8) * 2 - 1


@dataclass
class LayerCount:
    name: str
    bdps: int = 0
    float_macs: int = 0
    out_shape: tuple = ()


def run_network(net: Network, x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, list[LayerCount]]:
    """Run ``net`` on input ``x`` with random +-1 weights and random batch-norm (seeded).

    Binary layers use the packed engine; full-precision layers a float convolution followed by sign
    (so the next binary layer gets +-1).  Returns the last output and per-layer operation counts.
    """
    rng = np.random.default_rng(seed)
    outputs: list[np.ndarray] = []
    counts: list[LayerCount] = []
    cur = np.asarray(x)
    for i, (layer, shape) in enumerate(zip(net.layers, net.shapes())):
        count = LayerCount(layer.name)
        if layer.kind == "conv":
            c = cur.shape[0]
            pad = layer.k // 2 if layer.pad is None else layer.pad
            w = rng.choice(np.array([-1, 1], dtype=np.int8), size=(layer.filters, c, layer.k, layer.k))
            if layer.binary:
                dots, count.bdps = binary_conv2d(np.where(cur >= 0, 1, -1).astype(np.int8), w, layer.stride, pad)
                thr, flip = bn_thresholds(rng.uniform(0.5, 2, layer.filters) * rng.choice([-1, 1], layer.filters),
                                          rng.normal(0, 1, layer.filters), rng.normal(0, 2, layer.filters),
                                          rng.uniform(0.5, 2, layer.filters))
                cur = _apply_threshold(dots, thr, flip)
            else:
                out = float_conv2d(cur, w, layer.stride, pad)
                count.float_macs = shape.macs
                cur = np.where(out >= 0, 1, -1).astype(np.int8)
        elif layer.kind == "dense":
            flat = cur.reshape(-1)
            w = rng.choice(np.array([-1, 1], dtype=np.int8), size=(layer.units, flat.size))
            if layer.binary:
                dots, count.bdps = binary_dense(np.where(flat >= 0, 1, -1).astype(np.int8), w)
                cur = np.where(dots >= 0, 1, -1).astype(np.int8).reshape(-1, 1, 1)
            else:
                cur = (w.astype(np.float64) @ flat.astype(np.float64)).reshape(-1, 1, 1)
                count.float_macs = shape.macs
        elif layer.kind == "maxpool":
            c, h, w_ = cur.shape
            oc, oh, ow = shape.out_shape
            if layer.stride == 1:
                padded = np.pad(cur, ((0, 0), (0, layer.size - 1), (0, layer.size - 1)), mode="edge")
                cur = np.max([padded[:, dy:dy + h, dx:dx + w_] for dy in range(layer.size) for dx in range(layer.size)], axis=0)
            else:
                cur = np.max([cur[:, dy:dy + layer.stride * oh:layer.stride, dx:dx + layer.stride * ow:layer.stride]
                              for dy in range(layer.size) for dx in range(layer.size)], axis=0)
        elif layer.kind == "route":
            cur = np.concatenate([outputs[s if s >= 0 else i + s] for s in layer.sources], axis=0)
        elif layer.kind == "upsample":
            cur = cur.repeat(layer.factor, axis=1).repeat(layer.factor, axis=2)
        elif layer.kind == "detection":
            pass
        if tuple(cur.shape) != tuple(shape.out_shape):
            raise AssertionError(f"{net.name}/{layer.name}: engine shape {cur.shape} != {shape.out_shape}")
        count.out_shape = tuple(cur.shape)
        outputs.append(cur)
        counts.append(count)
    return cur, counts
