"""Train ``digits-bnn`` and its float reference; write system_model/data/digits_bnn.npz.

    .venv/bin/python scripts/train_digits_bnn.py            # train, write the package data file
    .venv/bin/python scripts/train_digits_bnn.py --check    # train again, compare with the shipped file

Data: ``sklearn.datasets.load_digits`` (1797 images, 8x8, 0..16), a stratified 80/20 split drawn
from ``numpy.random.default_rng(0)`` (round(0.2 n) of each class: 359 test, 1438 training images),
the thermometer input code of :func:`system_model.trained.thermometer` (planes pixel > 4, > 8,
> 12: 192 +-1 inputs).

Network 192 -> 256 -> 256 -> 10 with batch-norm after every layer (BinaryNet, Courbariaux et al.
2016): latent float weights clipped to [-1, 1], sign(weights) and sign(activations) in the forward
pass, the straight-through estimator (gradient of sign = 1 where |z| <= 1) in the backward pass.
The float reference has the same shape and is trained the same way (same initial draws scaled by
sqrt(3 / fan-in), same batches, optimizer and schedule) with float weights and hardtanh activations,
whose derivative is the same |z| <= 1 mask. Adam (lr 0.01, cosine decay to 0), 40 epochs, batches of
32, numpy only. Batch-norm statistics for inference: the population statistics of the training set.

Deterministic: one BLAS thread (threadpoolctl), seeded generators, a zip written with fixed
timestamps, so the same numpy/BLAS build on the same CPU family reproduces the file byte for byte
(``--check`` compares the bytes and reports the first array that differs).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from system_model.engine import bn_thresholds, pack_bits  # noqa: E402
from system_model.trained import DIGITS_LEVELS, FORMAT, FORMAT_VERSION, load_trained_file, predict_packed, thermometer  # noqa: E402

DEFAULT_OUT = ROOT / "system_model" / "data" / "digits_bnn.npz"


@dataclass(frozen=True)
class TrainConfig:
    hidden: int = 256
    epochs: int = 40
    batch: int = 32
    lr: float = 0.01
    seed: int = 0
    split_seed: int = 0
    test_fraction: float = 0.2
    eps: float = 1e-5


def load_data() -> tuple[np.ndarray, np.ndarray, str]:
    """(pixels (1797, 64) uint8, labels uint8, sha256 of both) from scikit-learn's bundled copy."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels, labels = digits.data.astype(np.uint8), digits.target.astype(np.uint8)
    assert np.array_equal(pixels, digits.data) and pixels.shape == (1797, 64)
    return pixels, labels, hashlib.sha256(pixels.tobytes() + labels.tobytes()).hexdigest()


def split(labels: np.ndarray, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Stratified: round(test_fraction * n_c) test images of each class, drawn without replacement."""
    rng = np.random.default_rng(cfg.split_seed)
    test = []
    for c in range(10):
        members = np.flatnonzero(labels == c)
        test.extend(rng.permutation(members)[:round(cfg.test_fraction * len(members))])
    test = np.sort(np.array(test, dtype=np.int64))
    return np.setdiff1d(np.arange(len(labels)), test), test


def _sign(a: np.ndarray) -> np.ndarray:
    return np.where(a >= 0, 1.0, -1.0)


def forward(params: list[dict], x: np.ndarray, binary: bool, eps: float, stats: list | None = None):
    """Logits and per-layer caches; batch statistics unless population ``stats`` are given."""
    h, caches = x, []
    for layer, p in enumerate(params):
        w = _sign(p["w"]) if binary else p["w"]
        a = h @ w.T
        mean, var = (a.mean(axis=0), a.var(axis=0)) if stats is None else stats[layer]
        inv = 1.0 / np.sqrt(var + eps)
        xhat = (a - mean) * inv
        z = xhat * p["gamma"] + p["beta"]
        caches.append((h, w, xhat, inv, z))
        if layer < len(params) - 1:
            h = _sign(z) if binary else np.clip(z, -1.0, 1.0)
    return z, caches


def backward(params: list[dict], caches: list, dlogits: np.ndarray) -> list[dict]:
    """Gradients; through sign / hardtanh the mask |z| <= 1 (straight-through estimator)."""
    grads = [None] * len(params)
    dz = dlogits
    for layer in reversed(range(len(params))):
        h, w, xhat, inv, z = caches[layer]
        if layer < len(params) - 1:
            dz = dz * (np.abs(z) <= 1.0)
        n = len(dz)
        dxhat = dz * params[layer]["gamma"]
        da = inv / n * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
        grads[layer] = {"w": da.T @ h, "gamma": (dz * xhat).sum(axis=0), "beta": dz.sum(axis=0)}
        dz = da @ w
    return grads


def _cross_entropy_grad(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


def train(x: np.ndarray, y: np.ndarray, binary: bool, cfg: TrainConfig) -> list[dict]:
    """Adam with a cosine learning-rate schedule; latent weights clipped to [-1, 1] when binary."""
    rng = np.random.default_rng(cfg.seed)
    sizes = [x.shape[1], cfg.hidden, cfg.hidden, 10]
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        w = rng.uniform(-1.0, 1.0, (n_out, n_in)) * (1.0 if binary else np.sqrt(3.0 / n_in))
        params.append({"w": w, "gamma": np.ones(n_out), "beta": np.zeros(n_out)})
    moments = [{k: (np.zeros_like(v), np.zeros_like(v)) for k, v in p.items()} for p in params]
    step = 0
    for epoch in range(cfg.epochs):
        lr = cfg.lr * 0.5 * (1.0 + np.cos(np.pi * epoch / cfg.epochs))
        order = rng.permutation(len(x))
        for start in range(0, len(x), cfg.batch):
            idx = order[start:start + cfg.batch]
            logits, caches = forward(params, x[idx], binary, cfg.eps)
            grads = backward(params, caches, _cross_entropy_grad(logits, y[idx]))
            step += 1
            for p, g, m in zip(params, grads, moments):
                for key in p:
                    m1 = 0.9 * m[key][0] + 0.1 * g[key]
                    m2 = 0.999 * m[key][1] + 0.001 * g[key] ** 2
                    m[key] = (m1, m2)
                    p[key] -= lr * (m1 / (1 - 0.9 ** step)) / (np.sqrt(m2 / (1 - 0.999 ** step)) + 1e-8)
                if binary:
                    np.clip(p["w"], -1.0, 1.0, out=p["w"])
    return params


def population_stats(params: list[dict], x: np.ndarray, binary: bool, eps: float) -> list[tuple]:
    """Batch-norm statistics over the whole training set, layer by layer (each layer's input
    computed with the population statistics of the layers before it)."""
    stats: list[tuple] = []
    for layer in range(len(params)):
        _, caches = forward(params[:layer + 1], x, binary, eps, stats + [(0.0, 0.0)])
        h, w = caches[layer][0], caches[layer][1]
        a = h @ w.T
        stats.append((a.mean(axis=0), a.var(axis=0)))
    return stats


def accuracy(params, stats, x, y, binary: bool, eps: float) -> float:
    logits, _ = forward(params, x, binary, eps, stats)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def deploy(params: list[dict], stats: list[tuple], eps: float) -> dict[str, np.ndarray]:
    """Fold batch-norm into the engine's form: kernel words (negated where the scale is negative),
    integer thresholds for the hidden layers, a per-class scale and offset for the output."""
    arrays = {}
    names = [f"fc{i + 1}" for i in range(len(params))]
    for layer, (p, (mean, var), name) in enumerate(zip(params, stats, names)):
        w = _sign(p["w"])
        if layer < len(params) - 1:
            if np.any(p["gamma"] == 0):
                raise ValueError(f"{name}: a batch-norm scale is exactly 0 (the neuron is constant)")
            threshold, flip = bn_thresholds(p["gamma"], p["beta"], mean, var, eps)
            w = np.where(flip[:, None], -w, w)          # d <= t  <=>  -d >= -t
            arrays[f"{name}_threshold"] = np.ceil(np.where(flip, -threshold, threshold)).astype(np.int64)
        else:
            scale = p["gamma"] / np.sqrt(var + eps)
            arrays["out_scale"], arrays["out_offset"] = scale, p["beta"] - scale * mean
        arrays[f"{name}_words"] = pack_bits(w > 0)
    return arrays


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz (zip of .npy) with fixed timestamps and order: the same arrays give the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as f:
                np.lib.format.write_array(f, np.asarray(arrays[name]), allow_pickle=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


def build(cfg: TrainConfig) -> tuple[dict[str, np.ndarray], dict]:
    """Train both networks; the arrays of the package data file and the info it records."""
    from threadpoolctl import threadpool_limits

    pixels, labels, sha = load_data()
    train_idx, test_idx = split(labels, cfg)
    x = thermometer(pixels, DIGITS_LEVELS).astype(np.float64)
    y = labels.astype(np.int64)
    info = {"network": "digits-bnn", "levels": list(DIGITS_LEVELS), "data": "sklearn.datasets.load_digits",
            "data_sha256": sha, "train_images": len(train_idx), "test_images": len(test_idx), "train": asdict(cfg)}
    with threadpool_limits(limits=1):
        for binary, key in ((True, "bnn"), (False, "float")):
            params = train(x[train_idx], y[train_idx], binary, cfg)
            stats = population_stats(params, x[train_idx], binary, cfg.eps)
            info[f"{key}_train_accuracy"] = accuracy(params, stats, x[train_idx], y[train_idx], binary, cfg.eps)
            info[f"{key}_test_accuracy_batchnorm"] = accuracy(params, stats, x[test_idx], y[test_idx], binary, cfg.eps)
            if binary:
                arrays = deploy(params, stats, cfg.eps)
    info["float_accuracy"] = info.pop("float_test_accuracy_batchnorm")
    arrays.update(format=np.array(FORMAT), format_version=np.array(FORMAT_VERSION), test_index=test_idx,
                  test_pixels=pixels[test_idx], test_labels=labels[test_idx])
    return arrays, info


def finish(arrays: dict[str, np.ndarray], info: dict, path: Path) -> dict:
    """Measure the deployed model's test accuracy through the packed engine; write the file."""
    write_npz(path, dict(arrays, info_json=np.array(json.dumps(info, sort_keys=True))))
    model = load_trained_file(path)
    info["clean_accuracy"] = float(np.mean(predict_packed(model, model.test_x) == model.test_y))
    write_npz(path, dict(arrays, info_json=np.array(json.dumps(info, sort_keys=True))))
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default {DEFAULT_OUT})")
    parser.add_argument("--check", action="store_true", help="retrain and compare with --out instead of writing it")
    args = parser.parse_args(argv)
    arrays, info = build(TrainConfig())
    target = args.out.with_name(args.out.stem + ".check.npz") if args.check else args.out
    info = finish(arrays, info, target)
    print(f"BNN test accuracy {info['clean_accuracy']:.4f} (packed engine, folded thresholds; with float "
          f"batch-norm {info['bnn_test_accuracy_batchnorm']:.4f}), float reference {info['float_accuracy']:.4f}; "
          f"train {info['bnn_train_accuracy']:.4f} / {info['float_train_accuracy']:.4f}")
    if not args.check:
        print(f"wrote {target} (sha256 {hashlib.sha256(target.read_bytes()).hexdigest()[:16]})")
        return 0
    same = target.read_bytes() == args.out.read_bytes()
    if not same:
        with np.load(target) as new, np.load(args.out) as old:
            diff = [k for k in sorted(set(new.files) | set(old.files))
                    if k not in new.files or k not in old.files or not np.array_equal(new[k], old[k])]
        print(f"DIFFERENT from {args.out}: {', '.join(diff) or 'bytes only'}")
    else:
        print(f"identical to {args.out}, byte for byte")
    target.unlink()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
