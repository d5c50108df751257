"""Bit errors in RRAM-resident kernel words: the error model of the packed engine.

Where the errors are
--------------------
The BDPE's CHK operation reads a stored 64-bit kernel word from the RRAM array (one sense amplifier
per column), XNORs it with the input word from a register and counts the ones. Only words that the
static fill (:func:`system_model.platform.profile_fill`, most-used words first, capacity
``rram_words``) places in RRAM are read from RRAM; every other word is loaded from memory and takes
the register (DPM) path, which is error-free here, as is every input word.

What is flipped
---------------
We flip bits of the **kernel word as read** (XOR with an error mask before the XNOR). For one XNOR
this is the same as flipping its output bit, ``~(x ^ (w ^ e)) == ~(x ^ w) ^ e``, so either view
gives the same dot products; we flip the word because that is where the error happens physically
(a cell in the wrong resistance state, or a sense amplifier resolving the wrong value) and because
then both error kinds are one code path that differs only in the shape of the mask:

* ``persistent`` (stored-bit errors, device-to-device variability, a cell programmed or drifted
  into the wrong state): each stored bit flips with probability ``ber``, once per seed; the same
  wrong word is seen by every operation. Mask shape (filters, words).
* ``transient`` (read errors, cycle-to-cycle noise): every XNOR read of an RRAM-resident word flips
  each bit independently with probability ``ber``, afresh for every operation. Mask shape
  (reads, filters, words): one read per word per output pixel (per image for a dense layer).

Bits past a filter's last weight (the padding of its last word) are never flipped: they are masked
out of the popcount anyway. ``ber`` is used to 2^-32 resolution (:func:`bernoulli_words`).
"""
from __future__ import annotations

import numpy as np

from .engine import pack_bits
from .networks import Network
from .platform import profile_fill

__all__ = ["MODES", "ALL_ONES", "bernoulli_words", "resident_word_masks", "draw_flips", "packed_dense",
           "unpack_words", "ber_from_tables", "SENSE_BER_OPERATION", "SENSE_BER_METRIC"]

MODES = ("persistent", "transient")
ALL_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
BER_BITS = 32                       # resolution of the bit-error rate: 2^-32
SENSE_BER_OPERATION = "sense_ber"   # the table operation bdpe accuracy --tables reads (campaigns/sense_ber.toml)
SENSE_BER_METRIC = "ber"


def bernoulli_words(rng: np.random.Generator, shape: tuple[int, ...], p: float) -> np.ndarray:
    """uint64 words whose bits are independently 1 with probability ``round(p * 2^32) / 2^32``.

    Exact for that dyadic probability: with p = sum_i b_i 2^-i, combine uniform random words from the
    least significant set bit b_i upwards, OR for a 1 and AND for a 0 (P -> (1 + P) / 2 or P / 2).
    One random word per bit of p's expansion, so the cost does not grow as p gets small."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"bit-error rate {p!r} is outside [0, 1]")
    q = int(round(p * 2 ** BER_BITS))
    if q == 0:
        return np.zeros(shape, dtype=np.uint64)
    if q == 2 ** BER_BITS:
        return np.full(shape, ALL_ONES, dtype=np.uint64)
    mask = np.zeros(shape, dtype=np.uint64)
    low = (q & -q).bit_length() - 1  # the least significant set bit of q
    for bit in range(low, BER_BITS):
        r = rng.integers(0, ALL_ONES, size=shape, dtype=np.uint64, endpoint=True)
        mask = (mask | r) if (q >> bit) & 1 else (mask & r)
    return mask


def resident_word_masks(net: Network, rram_words: int | None) -> dict[int, np.ndarray]:
    """Which kernel words the static fill places in RRAM: {binary layer index: bool (filters, words)}.

    ``rram_words`` None means all of them. :func:`profile_fill` decides how many words of each layer
    (most-used first; ties in layer order); inside a layer the first ones in (filter, word) order."""
    if rram_words is not None and rram_words < 0:
        raise ValueError(f"rram_words {rram_words} is negative")
    capacity = net.kernel_words() if rram_words is None else rram_words
    hits = profile_fill(net, rram_words=capacity)
    masks = {}
    for s in net.shapes():
        if not s.binary:
            continue
        resident = int(round(hits.get(s.index, 0) / s.uses_per_word))
        flat = np.zeros(s.kernel_words, dtype=bool)
        flat[:resident] = True
        masks[s.index] = flat.reshape(s.filters, s.words_per_filter)
    return masks


def draw_flips(rng: np.random.Generator, resident: np.ndarray, n_bits: int, ber: float, mode: str,
               reads: int) -> np.ndarray:
    """Error masks of one layer: (filters, words) for ``persistent``, (reads, filters, words) for
    ``transient``; zero on words outside RRAM (``resident`` False) and on bits past ``n_bits``."""
    if mode not in MODES:
        raise ValueError(f"error mode {mode!r} is not one of {', '.join(MODES)}")
    shape = resident.shape if mode == "persistent" else (reads,) + resident.shape
    flips = bernoulli_words(rng, shape, ber)
    flips &= np.where(resident, ALL_ONES, np.uint64(0))
    flips &= pack_bits(np.ones(n_bits, dtype=bool))  # the weight bits of a filter, not its padding
    return flips


def packed_dense(x: np.ndarray, w_words: np.ndarray, flips: np.ndarray | None = None) -> np.ndarray:
    """Dot products of +-1 rows ``x`` (N, n) with stored kernel words (F, ceil(n/64)), as the BDPE
    computes them: ``2 * popcount(~(x ^ (w ^ e)) & valid) - popcount(valid)`` with error masks ``e``
    (None, (F, words) or (N, F, words)). Numpy, packed; bit-exact with ``binary_dense`` at e = 0."""
    x = np.asarray(x)
    xb = pack_bits(x > 0)[:, None, :]
    valid = pack_bits(x != 0)[:, None, :]
    read = w_words[None, :, :] if flips is None else np.broadcast_to(w_words, np.shape(flips)) ^ flips
    agree = np.bitwise_count(~(xb ^ read) & valid).sum(axis=2, dtype=np.int64)
    return 2 * agree - np.bitwise_count(valid).sum(axis=2, dtype=np.int64)


def unpack_words(words: np.ndarray, n_bits: int) -> np.ndarray:
    """(F, W) uint64 words -> (F, n_bits) +-1 int8 (bit i of word j is element 64*j + i; 1 -> +1)."""
    as_bytes = np.ascontiguousarray(words, dtype="<u8").view(np.uint8).reshape(words.shape[0], -1)
    bits = np.unpackbits(as_bytes, axis=1, bitorder="little")[:, :n_bits]
    return (bits.astype(np.int8) * 2 - 1).astype(np.int8)


def ber_from_tables(tables, *, corner: str, vdd: float, window: float, **coords) -> float:
    """The bit-error rate of one RRAM read at an operating point, from characterized tables (what
    ``bdpe accuracy --tables T --corner C --vdd V --window W`` uses).

    Contract: operation ``sense_ber`` (characterized by ``campaigns/sense_ber.toml``), metric ``ber``
    (probability that a sense amplifier resolves a stored bit wrongly, over transistor mismatch and
    RRAM device-to-device spread, stored 1 and 0 equally likely), axes ``corner``, ``vdd`` and
    ``window`` (R_off / R_on), and whatever further axes the table has (``d2d_sigma``, ``t_sense``,
    ``temperature``) given in ``coords``; an axis with one value may be left out. ``tables`` is
    anything with ``operations`` and ``lookup`` (``characterize.open_tables``). When it also has
    ``axes``, a window between two characterized windows is interpolated log-linearly (log BER
    linear in log window: the rate falls by orders of magnitude between grid windows, where a linear
    interpolation would be dominated by the larger end), exact on a characterized window, and a window
    outside them is a ``ValueError``. Raises ``KeyError`` when the operation is missing."""
    if SENSE_BER_OPERATION not in tables.operations:
        raise KeyError(SENSE_BER_OPERATION)
    point = {"corner": corner, "vdd": vdd, **coords}
    axes = tables.axes(SENSE_BER_OPERATION) if hasattr(tables, "axes") else None
    if axes is None or "window" not in axes:
        value = float(tables.lookup(SENSE_BER_OPERATION, SENSE_BER_METRIC, **point, window=window))
    else:
        value = _log_window_lookup(tables, point, np.sort(np.asarray(axes["window"], dtype=float)), float(window))
    if not 0.0 <= value <= 1.0:  # NaN too: a failed point
        raise ValueError(f"{SENSE_BER_OPERATION}.{SENSE_BER_METRIC} at {corner}/{vdd:g} V/window {window:g} is "
                         f"{value}, not a probability")
    return value


_TINY_BER = 1e-300  # the floor of the log interpolation (a fitted rate can underflow to 0)


def _log_window_lookup(tables, point: dict, grid: np.ndarray, window: float) -> float:
    """``ber`` at ``window`` from the two characterized windows around it, log-log interpolated."""
    lo, hi = float(grid[0]), float(grid[-1])
    if not (np.isfinite(window) and lo * (1 - 1e-12) <= window <= hi * (1 + 1e-12)):
        raise ValueError(f"window {window:g} is outside the characterized windows [{lo:g}, {hi:g}] "
                         f"({', '.join(f'{g:g}' for g in grid)})")
    i = int(np.clip(np.searchsorted(grid, window) - 1, 0, max(len(grid) - 2, 0)))
    ends = grid[i:i + 2]
    values = [float(tables.lookup(SENSE_BER_OPERATION, SENSE_BER_METRIC, **point, window=float(g))) for g in ends]
    for g, v in zip(ends, values):
        if abs(window - g) <= 1e-12 * g or len(ends) == 1:
            return v
    if not all(0.0 <= v <= 1.0 for v in values):
        return float("nan")
    frac = (np.log(window) - np.log(ends[0])) / (np.log(ends[1]) - np.log(ends[0]))
    logs = np.log(np.maximum(values, _TINY_BER))
    return float(min(1.0, np.exp(logs[0] + frac * (logs[1] - logs[0]))))
