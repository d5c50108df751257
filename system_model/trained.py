"""Trained BNNs shipped as package data, their inference, and their accuracy under RRAM bit errors.

``digits-bnn`` (the only one so far; shapes in :mod:`system_model.networks`): scikit-learn's
handwritten digits (1797 images of 8x8 pixels, values 0..16), a fixed stratified 80/20 split
(1438 training, 359 test images), trained by ``scripts/train_digits_bnn.py``.

* Input: a thermometer code of each pixel, three +-1 planes ``pixel > 4``, ``> 8``, ``> 12``
  (plane-major, so a (3, 8, 8) map, 192 bits = 3 words). The first layer is therefore an ordinary
  binary layer: its weights are 64-bit words that can live in RRAM like the others, and the packed
  engine computes it with the same XNOR + popcount (no fixed-point first layer on the CPU).
* fc1 192 -> 256, fc2 256 -> 256: binary weights, integer dot product ``d``, batch-norm + sign
  folded into one integer threshold per neuron: output +1 where ``d >= threshold`` (a neuron whose
  batch-norm scale was negative has its weights negated when folding, so it is the same test).
* fc3 256 -> 10: binary weights, the 10 integer dot products scaled per class (``scale * d +
  offset``, the folded batch-norm) on the CPU; the prediction is the arg max.

The file ``system_model/data/digits_bnn.npz`` holds the kernel words exactly as the engine stores
them (``pack_bits`` layout, bit 1 = weight +1), the thresholds, the output scale and offset, the
test images (copied from ``load_digits`` so that inference needs no scikit-learn import; a test
checks they are exactly its images at ``test_index``) and the accuracies measured when training.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from .engine import binary_conv2d, pack_bits
from .faults import MODES, draw_flips, packed_dense, resident_word_masks, unpack_words
from .networks import Network, get_network

__all__ = ["TrainedBNN", "TRAINED_NETWORKS", "DIGITS_LEVELS", "FORMAT", "FORMAT_VERSION", "thermometer",
           "load_trained", "load_trained_file", "predict_packed", "predict_reference", "predict_engine",
           "accuracy_under_errors"]

TRAINED_NETWORKS = ("digits-bnn",)
DIGITS_LEVELS = (4, 8, 12)     # thermometer planes: pixel > level, pixels 0..16
FORMAT = "bdpe-trained-bnn"
FORMAT_VERSION = 1


def thermometer(pixels: np.ndarray, levels: tuple[int, ...] = DIGITS_LEVELS) -> np.ndarray:
    """(N, 64) pixels -> (N, len(levels) * 64) +-1 int8, plane-major (element l * 64 + p: pixel p > level l)."""
    pixels = np.asarray(pixels)
    planes = pixels[:, None, :] > np.asarray(levels)[None, :, None]
    return (planes.astype(np.int8) * 2 - 1).reshape(len(pixels), -1)


@dataclass(frozen=True)
class TrainedBNN:
    """A trained network of binary dense layers (the last one's dots scaled per class)."""

    network: Network
    words: tuple[np.ndarray, ...]        # per layer: (filters, words) uint64, the RRAM contents
    thresholds: tuple[np.ndarray, ...]   # per hidden layer: int64, +1 where dot >= threshold
    out_scale: np.ndarray                # (classes,) float64
    out_offset: np.ndarray
    test_x: np.ndarray                   # (N, inputs) +-1 int8, encoded
    test_y: np.ndarray                   # (N,) int64
    info: dict = field(default_factory=dict)   # accuracies, training settings, test_index, test_pixels

    @property
    def layer_bits(self) -> tuple[int, ...]:
        return tuple(s.bits_per_filter for s in self.network.shapes() if s.binary)

    @property
    def layer_indices(self) -> tuple[int, ...]:
        return tuple(s.index for s in self.network.shapes() if s.binary)


def load_trained(name: str) -> TrainedBNN:
    """A trained network shipped with the package, by name (:data:`TRAINED_NETWORKS`)."""
    if name not in TRAINED_NETWORKS:
        raise ValueError(f"network {name!r} has no trained weights (trained: {', '.join(TRAINED_NETWORKS)})")
    with resources.as_file(resources.files("system_model") / "data" / "digits_bnn.npz") as path:
        return load_trained_file(path)


def load_trained_file(path) -> TrainedBNN:
    """Read and check a trained-network file (format ``bdpe-trained-bnn`` version 1)."""
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    if str(data["format"]) != FORMAT or int(data["format_version"]) != FORMAT_VERSION:
        raise ValueError(f"{path}: not a {FORMAT} version {FORMAT_VERSION} file")
    info = json.loads(str(data["info_json"]))
    net = get_network(info["network"])
    shapes = [s for s in net.shapes() if s.binary]
    words = tuple(data[f"{s.name}_words"] for s in shapes)
    for s, w in zip(shapes, words):
        if w.shape != (s.filters, s.words_per_filter) or w.dtype != np.uint64:
            raise ValueError(f"{path}: {s.name}_words is {w.shape} {w.dtype}, the network needs "
                             f"({s.filters}, {s.words_per_filter}) uint64")
    pixels = data["test_pixels"]
    info.update(test_index=data["test_index"].tolist())
    return TrainedBNN(net, words, tuple(data[f"{s.name}_threshold"] for s in shapes[:-1]),
                      data["out_scale"], data["out_offset"], thermometer(pixels, tuple(info["levels"])),
                      data["test_labels"].astype(np.int64), dict(info, test_pixels=pixels))


def _predict(model: TrainedBNN, x: np.ndarray, dense) -> np.ndarray:
    """Arg max of the scaled output dots; ``dense(layer, h)`` gives a layer's integer dots (N, F)."""
    h = np.asarray(x, dtype=np.int8)
    for layer in range(len(model.words)):
        dots = dense(layer, h)
        if layer < len(model.thresholds):
            h = np.where(dots >= model.thresholds[layer][None, :], 1, -1).astype(np.int8)
    return np.argmax(dots * model.out_scale[None, :] + model.out_offset[None, :], axis=1)


def predict_packed(model: TrainedBNN, x: np.ndarray, flips: list | None = None) -> np.ndarray:
    """Predictions through the packed XNOR + popcount on the stored words, with optional error
    masks per layer (:func:`system_model.faults.packed_dense`)."""
    return _predict(model, x, lambda i, h: packed_dense(h, model.words[i], None if flips is None else flips[i]))


def predict_reference(model: TrainedBNN, x: np.ndarray) -> np.ndarray:
    """Float reference: the words unpacked to +-1 weights, float64 matrix products (exact integers)."""
    weights = [unpack_words(w, n).astype(np.float64) for w, n in zip(model.words, model.layer_bits)]
    return _predict(model, x, lambda i, h: np.rint(h.astype(np.float64) @ weights[i].T).astype(np.int64))


def predict_engine(model: TrainedBNN, x: np.ndarray) -> np.ndarray:
    """Through the compiled engine (:func:`system_model.engine.binary_conv2d`): a dense layer over a
    batch is a 1x1 convolution over an N-pixel map."""
    weights = [unpack_words(w, n) for w, n in zip(model.words, model.layer_bits)]

    def dense(i, h):
        dots, _ = binary_conv2d(h.T.reshape(h.shape[1], 1, h.shape[0]), weights[i].reshape(*weights[i].shape, 1, 1))
        return dots[:, 0, :].T

    return _predict(model, x, dense)


def accuracy_under_errors(model: TrainedBNN, ber: float, *, mode: str = "persistent", rram_words: int | None = None,
                          seeds: int = 5, first_seed: int = 0) -> dict:
    """Test accuracy with bit errors in the RRAM-resident kernel words (:mod:`system_model.faults`).

    ``rram_words`` None: every kernel word in RRAM. Seed ``s`` draws its masks from
    ``numpy.random.default_rng(s)``, layer by layer. ``accuracy_std`` is the sample standard
    deviation over seeds (0 for one seed)."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    if seeds < 1:
        raise ValueError(f"seeds {seeds} must be >= 1")
    masks = resident_word_masks(model.network, rram_words)
    resident = [masks[i] for i in model.layer_indices]
    n = len(model.test_y)
    clean = float(np.mean(predict_packed(model, model.test_x) == model.test_y))
    correct, flipped = [], []  # counts: exact means, and a spread of exactly 0 when every seed agrees
    for seed in range(first_seed, first_seed + seeds):
        rng = np.random.default_rng(seed)
        flips = [draw_flips(rng, r, bits, ber, mode, n) for r, bits in zip(resident, model.layer_bits)]
        correct.append(int(np.sum(predict_packed(model, model.test_x, flips) == model.test_y)))
        flipped.append(int(sum(np.bitwise_count(f).sum() for f in flips)))
    words_in = {s.name: int(m.sum()) for s, m in zip([s for s in model.network.shapes() if s.binary], resident)}
    at_risk = sum(int((m * np.bitwise_count(pack_bits(np.ones(bits, dtype=bool)))).sum())  # weight bits in RRAM
                  for m, bits in zip(resident, model.layer_bits)) * (n if mode == "transient" else 1)
    return {
        "network": model.network.name, "mode": mode, "ber": ber, "seeds": seeds,
        "clean_accuracy": clean, "accuracy": sum(correct) / (n * seeds),
        "accuracy_std": float(np.std(correct, ddof=1)) / n if seeds > 1 else 0.0,
        "accuracies": [c / n for c in correct], "float_reference_accuracy": model.info.get("float_accuracy"),
        "test_images": n, "kernel_words": model.network.kernel_words(),
        "rram_words": sum(words_in.values()), "rram_words_by_layer": words_in,
        "bits_at_risk": at_risk, "flipped_bits_mean": float(np.mean(flipped)),
    }
