"""The loop nest of a binary layer as the paper's software runs it (Darknet's XNOR-Net packed GEMM).

Darknet's binary path (the packed GEMM of AlexeyAB's Darknet, whose 64-bit XNOR + popcount per
word the paper's BDP counts follow) computes, for every filter ``f`` and output pixel ``j``,
``C[f, j] = sum_w popcount(~(A[f, w] ^ B[j, w]))`` over the ``n = ceil(C_in*k*k/64)`` words ``w``
of a filter, with A the packed kernel matrix (one row per filter) and B the packed, transposed
im2col input (one row per output pixel)::

    for f in range(filters):            # outermost: filter f's kernel row (n words, <= 576 B) stays in L1
        for j in range(pixels):         # the whole input matrix B streams past it
            acc = 0
            for w in range(n):          # innermost: one BDP per iteration
                acc += popcount(~(A[f, w] ^ B[j, w]))
            C[f, j] = scale(acc)        # one 4-byte store per dot product

Why the word loop is innermost: it is the reduction of one dot product, so the count lives in a
register and each output is stored once; the instruction sequences of
:mod:`system_model.platform` are one iteration of exactly this loop (load the input word, load the
kernel word, XNOR, popcount, accumulate, ``subs``/``b.ne`` over the words). The published
statistics agree: the BDPE run reads 4.54 M fewer L1D words for 4.50 M RRAM hits, i.e. one kernel
load per BDP disappears, which an order with the word loop outside the pixel loop (kernel word
loop-invariant, held in a register) would not show. Why the filter loop is outermost: Darknet
parallelises over filters (``omp parallel for`` on it) and one filter's row is tiny.

The order is a documented parameter (:class:`LoopNest` ``order``): ``filter-pixel-word`` (the
above, default) or ``pixel-filter-word`` (input row resident, kernel matrix streaming). The profile
fill (:func:`system_model.platform.profile_fill`) takes the most-used words first; inside a layer all
words are used equally often (once per output pixel), and ties are broken by first use in
execution order, i.e. filter-major: the ``m`` filled words of a layer are words ``0 .. m-1`` of
``A`` in row-major order (whole filters, then a prefix of one filter), in both orders.

Sampling: the branch model (:mod:`system_model.branch`) is exact for every layer (it detects when
the predictor state repeats and multiplies). The cache model (:mod:`system_model.cache`) simulates
every access (yolov3-tiny: ~88 M, a fraction of a second); only layers above ``sample_accesses``
accesses are sampled by filter blocks, with an error bound (:func:`system_model.cache.sampled_layer_memory`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LoopNest", "LayerGeometry", "DARKNET_NEST", "geometry", "filled_words", "access_sequence",
           "chk_sequence", "ORDERS"]

ORDERS = ("filter-pixel-word", "pixel-filter-word")


@dataclass(frozen=True)
class LayerGeometry:
    """A binary layer's GEMM: ``filters`` kernel rows, ``pixels`` input rows, ``words`` per row."""

    filters: int
    pixels: int
    words: int

    @property
    def bdps(self) -> int:
        return self.filters * self.pixels * self.words

    @property
    def dot_products(self) -> int:
        return self.filters * self.pixels


@dataclass(frozen=True)
class LoopNest:
    """How the binary GEMM runs: loop order, row padding, where the three matrices live.

    ``row_align_bits``: row stride of A and B in bits (64: rows packed to whole words, the paper's
    ``ceil(C_in*k*k/64)`` words per filter; AlexeyAB's Darknet pads rows to 256-bit multiples for
    AVX2: 256). The base addresses are page aligned and fall at different offsets of an L2 way
    (512 KiB): kernel at 0, input at +256 KiB, output at +128 KiB (an assumption: the real heap
    layout is not published). ``sample_accesses``: layers with more memory accesses than this are
    sampled by the cache model."""

    order: str = "filter-pixel-word"
    row_align_bits: int = 64
    kernel_base: int = 0x1000_0000
    input_base: int = 0x2004_0000
    output_base: int = 0x3002_0000
    sample_accesses: int = 200_000_000

    def __post_init__(self):
        if self.order not in ORDERS:
            raise ValueError(f"loop order {self.order!r}: one of {', '.join(ORDERS)}")
        if self.row_align_bits % 64 or self.row_align_bits <= 0:
            raise ValueError(f"row_align_bits {self.row_align_bits}: a positive multiple of 64")

    @property
    def filter_outer(self) -> bool:
        return self.order == "filter-pixel-word"

    def row_bytes(self, words: int) -> int:
        align = self.row_align_bits // 8
        return -(-words * 8 // align) * align

    def accesses(self, geom: LayerGeometry) -> int:
        """Memory accesses of the baseline GEMM: two loads per BDP and one store per dot product."""
        return 2 * geom.bdps + geom.dot_products


DARKNET_NEST = LoopNest()


def geometry(shape) -> LayerGeometry | None:
    """The GEMM of a binary layer (:class:`system_model.networks.LayerShape`), None otherwise."""
    if not shape.binary or shape.bdps == 0:
        return None
    return LayerGeometry(shape.filters, shape.out_pixels, shape.words_per_filter)


def filled_words(net, hits_by_layer: dict) -> dict[int, float]:
    """Words of each layer in RRAM (``m``; fractional under a forced usage rate) from the BDP hits
    of :func:`system_model.platform.profile_fill` (every word of a layer is used once per pixel)."""
    out = {}
    for s in net.shapes():
        hits = hits_by_layer.get(s.index, 0.0)
        if hits and s.uses_per_word:
            out[s.index] = hits / s.uses_per_word
    return out


def _indices(geom: LayerGeometry, nest: LoopNest):
    """(f, j, w) of every BDP in execution order (numpy, for small layers and tests)."""
    a, b, w = np.meshgrid(np.arange(geom.filters if nest.filter_outer else geom.pixels),
                          np.arange(geom.pixels if nest.filter_outer else geom.filters),
                          np.arange(geom.words), indexing="ij")
    f, j = (a, b) if nest.filter_outer else (b, a)
    return f.ravel(), j.ravel(), w.ravel()


def access_sequence(geom: LayerGeometry, nest: LoopNest = DARKNET_NEST):
    """(kernel word index ``f*n + w``, input word index ``j*n + w``) of every BDP in execution order."""
    f, j, w = _indices(geom, nest)
    return f * geom.words + w, j * geom.words + w


def chk_sequence(geom: LayerGeometry, m: float, nest: LoopNest = DARKNET_NEST) -> np.ndarray:
    """Outcome of the CHK test of every BDP in execution order: True = the kernel word is in RRAM
    (the filled words are the first ``m`` of the kernel matrix, see the module docstring)."""
    kernel, _ = access_sequence(geom, nest)
    return kernel < int(m)
