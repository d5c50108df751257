"""Bit-exact functional BNN engine: bit-packed XNOR + popcount convolution and dense layers.

Values are +-1 (int8).  Patches are packed like Darknet's XNOR-Net: ``C_in*k*k`` bits into
``ceil(C_in*k*k / 64)`` 64-bit words; one binary dot product (BDP) per word per output pixel per
filter, and the engine counts them as it goes.  With ``n = C_in*k*k`` bits,
``dot = n - 2 * popcount(x ^ w)``.  Zero padding is exact in both implementations: the compiled one
(:class:`PackedConv`, :mod:`system_model.kernels`; bit order (ky, kx, c)) reads padded taps as -1
and adds the filter's weights over them back for border pixels; the numpy one
(:func:`binary_conv2d_numpy`; bit order (c, ky, kx)) masks them out of the popcount,
``dot = 2 * popcount(~(x ^ w) & valid) - popcount(valid)``.  Both give the integer convolution of
+-1 tensors with zero padding.

A network's parameters are drawn and its binary weights packed once by :func:`prepare_network`;
:meth:`PreparedNetwork.run` then only infers (:func:`run_network` does both, as before).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels import binary_conv, float_conv, pack_weights, pack_windows, sign_threshold
from .networks import WORD_BITS, LayerShape, Network

__all__ = ["pack_bits", "im2col", "PackedConv", "binary_conv2d", "binary_conv2d_numpy", "packed_dot_numpy",
           "float_conv2d", "binary_dense", "bn_thresholds", "PreparedNetwork", "prepare_network", "run_network",
           "LayerCount"]
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


@dataclass(frozen=True, eq=False)
class PackedConv:
    """A binary convolution whose weights are packed once (:meth:`from_weights`); calling it on an
    input packs the activations and runs the compiled kernel (:mod:`system_model.kernels`).

    ``words``: (F, ceil(C*k*k/64)) uint64, bit ``(ky*k + kx)*C + c`` = weight ``(c, ky, kx)`` > 0;
    ``tap_sums``: (k*k, F) sum over channels of each tap's +-1 weights (the border correction).
    A dense layer is the 1x1 convolution of a (N, 1, 1) input."""

    words: np.ndarray
    tap_sums: np.ndarray
    channels: int
    k: int
    stride: int = 1
    pad: int = 0

    @classmethod
    def from_weights(cls, w: np.ndarray, stride: int = 1, pad: int = 0) -> PackedConv:
        """+-1 weights (F, C, k, k) (ValueError for any other value)."""
        w = np.asarray(w)
        if w.ndim != 4 or w.shape[2] != w.shape[3] or 0 in w.shape:
            raise ValueError(f"weights: expected a non-empty (F, C, k, k) array, got shape {w.shape}")
        if not np.all((w == 1) | (w == -1)):
            raise ValueError("weights: values must be -1 or +1")
        if int(stride) < 1 or int(pad) < 0:
            raise ValueError(f"stride {stride} must be >= 1 and pad {pad} >= 0")
        f, c, k, _ = w.shape
        tap_sums = np.ascontiguousarray(w.reshape(f, c, k * k).sum(axis=1, dtype=np.int64).T)
        return cls(pack_weights(w), tap_sums, c, k, int(stride), int(pad))

    @property
    def filters(self) -> int:
        return self.words.shape[0]

    def __call__(self, x: np.ndarray, binarize: bool = False) -> tuple[np.ndarray, int]:
        """(C, H, W) input -> (int32 dot products (F, oh, ow), BDPs = oh*ow*F*words per filter).

        The input must be +-1 (ValueError otherwise), or, with ``binarize``, is binarized by sign
        (``x >= 0`` -> +1) as between the layers of a network."""
        x = np.asarray(x)
        if x.dtype != np.int8:
            if binarize:
                x = np.where(x >= 0, 1, -1).astype(np.int8)
            elif not np.all((x == 1) | (x == -1)):
                raise ValueError("binary convolution: input values must be -1 or +1")
        x = np.ascontiguousarray(x, dtype=np.int8)
        if x.ndim != 3 or x.shape[0] != self.channels:
            raise ValueError(f"binary convolution: input shape {x.shape}, the weights need ({self.channels}, H, W)")
        c, h, w = x.shape
        oh = (h + 2 * self.pad - self.k) // self.stride + 1
        ow = (w + 2 * self.pad - self.k) // self.stride + 1
        if oh < 1 or ow < 1:
            raise ValueError(f"binary convolution: input {h}x{w} with pad {self.pad} is smaller than the kernel")
        win, all_pm1 = pack_windows(x, self.k, self.pad)
        if not (all_pm1 or binarize):
            raise ValueError("binary convolution: input values must be -1 or +1")
        dots = binary_conv(win, self.words, self.tap_sums, c, self.k, self.stride, self.pad, h, w)
        return dots.reshape(self.filters, oh, ow), oh * ow * self.words.size


def binary_conv2d(x: np.ndarray, w: np.ndarray, stride: int = 1, pad: int = 0) -> tuple[np.ndarray, int]:
    """+-1 input (C, H, W), +-1 weights (F, C, k, k) -> (integer output (F, oh, ow), BDPs performed).

    Compiled path: :class:`PackedConv` (weights packed on every call; keep a :class:`PackedConv` to
    pack them once)."""
    return PackedConv.from_weights(w, stride, pad)(x)


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
    """+-1 vector (N,), +-1 weights (F, N) -> (integer outputs (F,), BDPs): the 1x1 convolution of (N, 1, 1)."""
    w = np.asarray(w)
    dots, bdps = PackedConv.from_weights(w.reshape(*w.shape, 1, 1))(np.asarray(x).reshape(-1, 1, 1))
    return dots[:, 0, 0], bdps


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


@dataclass(frozen=True, eq=False)
class _Step:
    """One layer of a prepared network and its parameters."""

    layer: object
    shape: LayerShape
    weights: np.ndarray | None = None     # +-1 int8: conv (F, C, k, k), dense (F, N)
    packed: PackedConv | None = None      # binary conv / dense
    threshold: np.ndarray | None = None   # binary conv: batch-norm + sign folded (bn_thresholds)
    flip: np.ndarray | None = None
    float_weights: np.ndarray | None = None  # full-precision conv: the weights as float64


@dataclass(frozen=True, eq=False)
class PreparedNetwork:
    """A network with its random +-1 weights and batch-norm parameters drawn once (seeded) and the
    binary layers' weights packed once (:func:`prepare_network`); :meth:`run` only infers."""

    net: Network
    seed: int
    steps: tuple

    def run(self, x: np.ndarray, reference: bool = False) -> tuple[np.ndarray, list[LayerCount]]:
        """Run on input ``x``: binary layers through the packed engine (with ``reference``: through
        :func:`float_conv2d` / an integer matrix product, the result the engine must equal), then
        the folded batch-norm + sign; full-precision layers as a float64 convolution followed by
        sign (so the next binary layer gets +-1).  Returns the last output and per-layer counts."""
        outputs: list[np.ndarray] = []
        counts: list[LayerCount] = []
        cur = np.asarray(x)
        for i, step in enumerate(self.steps):
            count = LayerCount(step.layer.name)
            cur = _forward(step, cur, outputs, i, count, reference)
            if tuple(cur.shape) != tuple(step.shape.out_shape):
                raise AssertionError(f"{self.net.name}/{step.layer.name}: engine shape {cur.shape} != "
                                     f"{step.shape.out_shape}")
            count.out_shape = tuple(cur.shape)
            outputs.append(cur)
            counts.append(count)
        return cur, counts


def prepare_network(net: Network, seed: int = 0) -> PreparedNetwork:
    """Draw ``net``'s random +-1 weights and batch-norm parameters from ``seed`` (the draws, in order,
    of the original per-call :func:`run_network`) and pack the binary layers' weights."""
    rng = np.random.default_rng(seed)
    pm1 = np.array([-1, 1], dtype=np.int8)
    steps = []
    for layer, shape in zip(net.layers, net.shapes()):
        if layer.kind == "conv":
            f, pad = layer.filters, _conv_pad(layer)
            w = rng.choice(pm1, size=(f, shape.in_shape[0], layer.k, layer.k))
            if layer.binary:
                thr, flip = bn_thresholds(rng.uniform(0.5, 2, f) * rng.choice([-1, 1], f), rng.normal(0, 1, f),
                                          rng.normal(0, 2, f), rng.uniform(0.5, 2, f))
                steps.append(_Step(layer, shape, w, PackedConv.from_weights(w, layer.stride, pad), thr, flip))
            else:
                steps.append(_Step(layer, shape, w, float_weights=w.astype(np.float64)))
        elif layer.kind == "dense":
            w = rng.choice(pm1, size=(layer.units, int(np.prod(shape.in_shape))))
            packed = PackedConv.from_weights(w.reshape(*w.shape, 1, 1)) if layer.binary else None
            steps.append(_Step(layer, shape, w, packed))
        else:
            steps.append(_Step(layer, shape))
    return PreparedNetwork(net, seed, tuple(steps))


def run_network(net: Network, x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, list[LayerCount]]:
    """Run ``net`` on input ``x`` with random +-1 weights and random batch-norm (seeded): draws the
    parameters on every call; to run many inputs, keep ``prepare_network(net, seed)`` and call its
    :meth:`~PreparedNetwork.run` (the same results)."""
    return prepare_network(net, seed).run(x)


def _conv_pad(layer) -> int:
    return layer.k // 2 if layer.pad is None else layer.pad


def _sign(a: np.ndarray) -> np.ndarray:
    return np.where(a >= 0, 1, -1).astype(np.int8)


def _forward(step: _Step, cur: np.ndarray, outputs: list, i: int, count: LayerCount, reference: bool) -> np.ndarray:
    layer, shape = step.layer, step.shape
    if layer.kind == "conv":
        return _conv_layer(step, cur, count, reference)
    if layer.kind == "dense":
        return _dense_layer(step, cur, count, reference)
    if layer.kind == "maxpool":
        c, h, w = cur.shape
        oc, oh, ow = shape.out_shape
        if layer.stride == 1:
            padded = np.pad(cur, ((0, 0), (0, layer.size - 1), (0, layer.size - 1)), mode="edge")
            views = [padded[:, dy:dy + h, dx:dx + w] for dy in range(layer.size) for dx in range(layer.size)]
        else:
            views = [cur[:, dy:dy + layer.stride * oh:layer.stride, dx:dx + layer.stride * ow:layer.stride]
                     for dy in range(layer.size) for dx in range(layer.size)]
        out = views[0].copy()
        for view in views[1:]:
            np.maximum(out, view, out=out)
        return out
    if layer.kind == "route":
        return np.concatenate([outputs[s if s >= 0 else i + s] for s in layer.sources], axis=0)
    if layer.kind == "upsample":
        return cur.repeat(layer.factor, axis=1).repeat(layer.factor, axis=2)
    return cur  # detection


def _conv_layer(step: _Step, cur: np.ndarray, count: LayerCount, reference: bool) -> np.ndarray:
    layer, w = step.layer, step.weights
    pad = _conv_pad(layer)
    if not layer.binary:
        count.float_macs = step.shape.macs
        if reference:
            return _sign(float_conv2d(cur, w, layer.stride, pad))
        return _sign(float_conv(np.asarray(cur, dtype=np.float64), step.float_weights, layer.stride, pad))
    if reference:
        dots = float_conv2d(_sign(cur), w, layer.stride, pad).astype(np.int64)
        count.bdps = step.shape.bdps
        return _apply_threshold(dots, step.threshold, step.flip)
    dots, count.bdps = step.packed(cur, binarize=True)
    f = dots.shape[0]
    return sign_threshold(dots.reshape(f, -1), step.threshold, step.flip).reshape(dots.shape)


def _dense_layer(step: _Step, cur: np.ndarray, count: LayerCount, reference: bool) -> np.ndarray:
    flat = cur.reshape(-1)
    if not step.layer.binary:
        count.float_macs = step.shape.macs
        return (step.weights.astype(np.float64) @ flat.astype(np.float64)).reshape(-1, 1, 1)
    if reference:
        dots = step.weights.astype(np.int64) @ _sign(flat).astype(np.int64)
        count.bdps = step.shape.bdps
    else:
        dots, count.bdps = step.packed(flat.reshape(-1, 1, 1), binarize=True)
    return _sign(dots.reshape(-1)).reshape(-1, 1, 1)
