"""Benchmark: packed XNOR-popcount engine vs a float32 convolution on the same layer shapes, and the
time to evaluate yolov3-tiny's cost tally.  Everything measured side by side in one run.

Run: .venv/bin/python benchmarks/bench_system_model.py
"""
from __future__ import annotations

import time

import numpy as np


def _best(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    from system_model import evaluate, get_network, get_platform
    from system_model.engine import binary_conv2d, im2col

    rng = np.random.default_rng(0)
    # yolov3-tiny binary layer shapes (conv2 at full 208x208 is the largest map; conv7 the most BDPs)
    shapes = [("conv2", 16, 208, 32, 3), ("conv5", 128, 26, 256, 3), ("conv7", 512, 13, 1024, 3),
              ("conv12", 384, 26, 256, 3)]
    print(f"{'layer':8s} {'shape':>22s} {'packed ms':>10s} {'float32 ms':>11s} {'float/packed':>13s} {'BDPs':>12s}")
    for name, c, hw, f, k in shapes:
        x = rng.choice([-1, 1], size=(c, hw, hw)).astype(np.int8)
        w = rng.choice([-1, 1], size=(f, c, k, k)).astype(np.int8)
        xf, wf = x.astype(np.float32), w.astype(np.float32).reshape(f, -1)

        def packed():
            return binary_conv2d(x, w, 1, k // 2)

        def float32():  # im2col + BLAS sgemm, the usual float path
            cols, oh, ow = im2col(xf, k, 1, k // 2)
            return (wf @ cols.T).reshape(f, oh, ow)

        out_p, bdps = packed()
        out_f = float32()
        assert np.array_equal(out_p, out_f.astype(np.int64))
        tp, tf = _best(packed), _best(float32)
        print(f"{name:8s} {f'{c}x{hw}x{hw} -> {f}':>22s} {tp * 1e3:10.1f} {tf * 1e3:11.1f} {tf / tp:13.2f} {bdps:12,d}")

    net, plat = get_network("yolov3-tiny"), get_platform("paper-a53")
    t_eval = _best(lambda: evaluate(net, plat, latency_sweep=()), repeat=5)
    t_full = _best(lambda: evaluate(net, plat), repeat=3)
    print(f"yolov3-tiny tally: {t_eval * 1e3:.1f} ms (with the 1/2/4/8-cycle latency sweep: {t_full * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
