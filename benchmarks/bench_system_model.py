"""Benchmark: the packed XNOR-popcount engine on yolov3-tiny's binarized layer shapes, side by side
with the previous numpy packed path, a float32 im2col + BLAS convolution and (when installed)
torch's float32 conv2d on the same number of threads; then whole-network images/s for
binarynet-cifar10 (packed engine vs the same network in torch float32); then the time of the
yolov3-tiny cost tally. Every output is checked equal to the float result before it is timed.
Medians of 5 runs (3 for the two slow columns, numpy and f32 BLAS).

What is timed: "packed" is one call of a `PackedConv` on the int8 +-1 (C, H, W) activations:
packing the activations into bit windows plus the XNOR-popcount kernel, to int32 dot products.
Its weights are packed once beforehand (`PackedConv.from_weights`, as a network keeps them; that
one-off time is the last column, not included in "packed"). "numpy" packs weights and activations
on every call. The network line times `PreparedNetwork.run` (parameters drawn and weights packed
once by `prepare_network`, not timed) against the torch model's forward pass, batch of 1.

Run: .venv/bin/python benchmarks/bench_system_model.py [--threads N]
(torch is optional: `pip install torch==2.13.0` takes the CPU build that lies on this machine.)
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _median(fn, repeat=5):
    fn()  # warm-up (compilation, caches)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _torch(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def layers(torch, threads):
    from system_model.engine import PackedConv, binary_conv2d_numpy, im2col

    rng = np.random.default_rng(0)
    # yolov3-tiny binary layer shapes (conv2 at full 208x208 is the largest map; conv7 the most BDPs)
    shapes = [("conv2", 16, 208, 32, 3), ("conv3", 32, 104, 64, 3), ("conv5", 128, 26, 256, 3),
              ("conv7", 512, 13, 1024, 3), ("conv12", 384, 26, 256, 3)]
    print(f"{'layer':7s} {'shape':>20s} {'packed':>8s} {'numpy':>8s} {'f32 BLAS':>9s} {'torch f32':>9s} "
          f"{'torch/packed':>12s} {'numpy/packed':>12s} {'weights once':>12s}  (ms, median, {threads} threads)")
    for name, c, hw, f, k in shapes:
        x = rng.choice(np.array([-1, 1], dtype=np.int8), size=(c, hw, hw))
        w = rng.choice(np.array([-1, 1], dtype=np.int8), size=(f, c, k, k))
        xf, wf = x.astype(np.float32), w.astype(np.float32).reshape(f, -1)

        def float32():  # im2col + BLAS sgemm
            cols, oh, ow = im2col(xf, k, 1, k // 2)
            return (wf @ cols.T).reshape(f, oh, ow)

        t0 = time.perf_counter()
        conv = PackedConv.from_weights(w, 1, k // 2)  # once per layer, as a network keeps it
        tw = time.perf_counter() - t0
        ref = float32().astype(np.int64)
        assert np.array_equal(conv(x)[0], ref)
        assert np.array_equal(binary_conv2d_numpy(x, w, 1, k // 2)[0], ref)
        tp = _median(lambda: conv(x))
        tn = _median(lambda: binary_conv2d_numpy(x, w, 1, k // 2), repeat=3)
        tf = _median(float32, repeat=3)
        tt = float("nan")
        if torch is not None:
            xt, wt = torch.from_numpy(xf[None]), torch.from_numpy(w.astype(np.float32))
            with torch.no_grad():
                assert np.array_equal(torch.nn.functional.conv2d(xt, wt, padding=k // 2)[0].numpy().astype(np.int64), ref)
                tt = _median(lambda: torch.nn.functional.conv2d(xt, wt, padding=k // 2))
        print(f"{name:7s} {f'{c}x{hw}x{hw}->{f}':>20s} {tp * 1e3:8.2f} {tn * 1e3:8.1f} {tf * 1e3:9.1f} {tt * 1e3:9.2f} "
              f"{tt / tp:12.2f} {tn / tp:12.2f} {tw * 1e3:12.1f}")


def network(torch):
    from system_model import get_network
    from system_model.engine import prepare_network

    net = get_network("binarynet-cifar10")
    x = np.random.default_rng(1).choice(np.array([-1, 1], dtype=np.int8), size=net.input_shape)
    prepared = prepare_network(net, seed=0)  # parameters drawn, binary weights packed: once
    out, counts = prepared.run(x)
    assert np.array_equal(out, prepared.run(x, reference=True)[0])  # the float network's result
    assert sum(c.bdps for c in counts) == net.bdps()
    tp = _median(lambda: prepared.run(x), repeat=5)
    line = f"binarynet-cifar10 whole network (batch 1): packed engine {1 / tp:8.1f} images/s"
    if torch is not None:
        model = _torch_model(torch, net)
        xt = torch.from_numpy(x.astype(np.float32)[None])
        with torch.no_grad():
            tt = _median(lambda: model(xt), repeat=5)
        line += f", torch float32 {1 / tt:8.1f} images/s (packed / torch: {tt / tp:.2f}x)"
    print(line)


def _torch_model(torch, net):
    """The same layer shapes in torch float32 (random weights; sign between binary layers)."""
    mods = []
    shapes = net.shapes()
    for layer, shape in zip(net.layers, shapes):
        if layer.kind == "conv":
            pad = layer.k // 2 if layer.pad is None else layer.pad
            mods.append(torch.nn.Conv2d(shape.in_shape[0], layer.filters, layer.k, layer.stride, pad, bias=False))
            mods.append(torch.nn.Hardtanh())
        elif layer.kind == "maxpool":
            mods.append(torch.nn.MaxPool2d(layer.size, layer.stride))
        elif layer.kind == "dense":
            if not any(isinstance(m, torch.nn.Flatten) for m in mods):
                mods.append(torch.nn.Flatten())
            mods.append(torch.nn.Linear(int(np.prod(shape.in_shape)), layer.units, bias=False))
        else:
            raise ValueError(f"{layer.kind}: not in this benchmark's torch model")
    return torch.nn.Sequential(*mods).eval()


def tally():
    from system_model import evaluate, get_network, get_platform

    net, plat = get_network("yolov3-tiny"), get_platform("paper-a53")
    t_eval = _median(lambda: evaluate(net, plat, latency_sweep=()), repeat=5)
    t_full = _median(lambda: evaluate(net, plat), repeat=3)
    print(f"yolov3-tiny tally: {t_eval * 1e3:.1f} ms (with the 1/2/4/8-cycle latency sweep: {t_full * 1e3:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import numba

    numba.set_num_threads(args.threads)
    torch = _torch(args.threads)
    if torch is None:
        print("torch is not installed: its columns are NaN (pip install torch==2.13.0)")
    layers(torch, args.threads)
    network(torch)
    tally()


if __name__ == "__main__":
    main()
