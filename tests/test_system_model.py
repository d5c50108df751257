"""System model: paper workload facts, bit-exact engine, and the reproduction of the paper."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from system_model import BDPEConfig, evaluate, get_network, get_platform, profile_fill
from system_model.engine import binary_conv2d, binary_dense, bn_thresholds, float_conv2d, pack_bits, run_network
from system_model.networks import available_networks
from system_model.platform import PUBLISHED_DOTP

# The paper's per-layer table: conv -> (out HxW, filters, C_in, k, words/filter, words, uses/word, BDPs)
PAPER_TABLE = {
    "conv2": (208, 32, 16, 3, 3, 96, 43264, 4153344),
    "conv3": (104, 64, 32, 3, 5, 320, 10816, 3461120),
    "conv4": (52, 128, 64, 3, 9, 1152, 2704, 3115008),
    "conv5": (26, 256, 128, 3, 18, 4608, 676, 3115008),
    "conv6": (13, 512, 256, 3, 36, 18432, 169, 3115008),
    "conv7": (13, 1024, 512, 3, 72, 73728, 169, 12460032),
    "conv8": (13, 256, 1024, 1, 16, 4096, 169, 692224),
    "conv9": (13, 512, 256, 3, 36, 18432, 169, 3115008),
    "conv11": (13, 128, 256, 1, 4, 512, 169, 86528),
    "conv12": (26, 256, 384, 3, 54, 13824, 676, 9345024),  # the paper's "conv 13"
}


def test_yolov3_tiny_workload_matches_paper():
    net = get_network("yolov3-tiny")
    assert net.bdps() == 42_658_304
    assert net.kernel_words() == 135_200
    binary = {s.name: s for s in net.shapes() if s.binary}
    assert set(binary) == set(PAPER_TABLE)
    for name, (hw, f, cin, k, wpf, words, uses, bdps) in PAPER_TABLE.items():
        s = binary[name]
        assert (s.out_shape[1], s.filters, s.in_shape[0], s.layer.k) == (hw, f, cin, k)
        assert (s.words_per_filter, s.kernel_words, s.uses_per_word, s.bdps) == (wpf, words, uses, bdps)
    full = [s.name for s in net.shapes() if s.layer.kind == "conv" and not s.binary]
    assert full == ["conv1", "conv10", "conv13"] and all(
        s.filters == 255 for s in net.shapes() if s.name in ("conv10", "conv13"))


def test_profile_fill_128_words():
    net = get_network("yolov3-tiny")
    hits = profile_fill(net, rram_words=128)
    idx = {s.name: s.index for s in net.shapes()}
    assert hits == {idx["conv2"]: 96 * 43264, idx["conv3"]: 32 * 10816}
    assert sum(hits.values()) == 4_499_456
    assert round(sum(hits.values()) / net.bdps() * 100, 2) == 10.55


@pytest.mark.parametrize("c,h,w,f,k,stride,pad", [
    (3, 7, 9, 4, 3, 1, 1), (5, 8, 8, 3, 3, 2, 1), (13, 6, 5, 2, 1, 1, 0), (7, 9, 9, 5, 3, 2, 0),
    (33, 5, 5, 3, 3, 1, 1), (1, 11, 11, 2, 5, 2, 2), (64, 4, 4, 3, 3, 1, 1), (9, 10, 7, 6, 2, 2, 1),
])
def test_packed_conv_equals_float_reference(c, h, w, f, k, stride, pad):
    rng = np.random.default_rng(c * 1000 + h * 10 + k)
    x = rng.choice([-1, 1], size=(c, h, w)).astype(np.int8)
    wt = rng.choice([-1, 1], size=(f, c, k, k)).astype(np.int8)
    packed, bdps = binary_conv2d(x, wt, stride, pad)
    reference = float_conv2d(x.astype(np.float32), wt.astype(np.float32), stride, pad)
    assert packed.shape == reference.shape
    assert np.array_equal(packed, reference.astype(np.int64))  # tolerance 0
    oh, ow = reference.shape[1:]
    assert bdps == oh * ow * f * math.ceil(c * k * k / 64)


def test_popcount_and_packing_against_python():
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2, size=(5, 150)).astype(bool)
    words = pack_bits(bits)
    assert words.shape == (5, 3)
    for row, packed in zip(bits, words):
        value = sum(int(b) << i for i, b in enumerate(row))
        assert sum(int(word) << (64 * j) for j, word in enumerate(packed)) == value
        assert int(np.bitwise_count(packed).sum()) == bin(value).count("1")


def test_dense_and_bn_thresholds():
    rng = np.random.default_rng(7)
    x = rng.choice([-1, 1], size=300).astype(np.int8)
    w = rng.choice([-1, 1], size=(20, 300)).astype(np.int8)
    dots, bdps = binary_dense(x, w)
    assert np.array_equal(dots, w.astype(np.int64) @ x.astype(np.int64)) and bdps == 20 * 5
    gamma = rng.normal(0, 1, 20)
    beta, mean, var = rng.normal(0, 1, 20), rng.normal(0, 5, 20), rng.uniform(0.5, 3, 20)
    thr, flip = bn_thresholds(gamma, beta, mean, var)
    float_sign = np.where(gamma * (dots - mean) / np.sqrt(var + 1e-5) + beta >= 0, 1, -1)
    folded = np.where(flip, dots <= thr, dots >= thr) * 2 - 1
    assert np.array_equal(folded, float_sign)


@pytest.mark.parametrize("name", ["finn-cnv", "finn-lfc", "finn-tfc", "binarynet-cifar10"])
def test_engine_counts_match_network_tally(name):
    net = get_network(name)
    x = np.random.default_rng(1).choice([-1, 1], size=net.input_shape).astype(np.int8)
    out, counts = run_network(net, x, seed=2)
    assert sum(c.bdps for c in counts) == net.bdps()
    assert [c.bdps for c in counts] == [s.bdps for s in net.shapes()]


def test_all_networks_have_shapes_and_sources():
    for name in available_networks():
        net = get_network(name)
        assert net.source and net.bdps() > 0 and net.kernel_words() > 0


def test_reproduce_paper_with_published_dotp():
    r = evaluate(get_network("yolov3-tiny"), get_platform("paper-a53"), PUBLISHED_DOTP).to_dict()
    assert r["gain"]["performance"] == pytest.approx(0.113, abs=0.010)
    assert r["gain"]["energy"] == pytest.approx(0.074, abs=0.010)
    assert r["gain"]["mem_access_reduction_per_bdp"] == pytest.approx(0.1065, abs=0.01)
    assert r["baseline"]["time_s"] == pytest.approx(1.917167, rel=0.05)
    # predictions of the BDPE run (the model is fitted to the baseline run only)
    assert r["bdpe"]["time_s"] == pytest.approx(1.700376, rel=0.02)
    assert r["bdpe"]["instructions"] == pytest.approx(3_130_108_996, rel=1e-3)
    assert r["bdpe"]["l1d_reads"] == pytest.approx(395_993_879, rel=1e-3)
    assert r["bdpe"]["simd_ops"] == pytest.approx(2_731_677, rel=1e-3)
    assert r["bdpe"]["energy_J"] == pytest.approx(0.50189, rel=0.01)
    assert r["gain"]["energy_with_dram"] == pytest.approx(0.0074, abs=0.002)
    # instruction saving per BDP is derived exactly: 6 replaced by 3 (+2 on a miss) = 1 + 2h
    h = r["bdpe_usage"]
    saved = (r["baseline"]["instructions"] - r["bdpe"]["instructions"]) / r["bdp_ops"]
    assert saved == pytest.approx(1 + 2 * h, rel=1e-9)


def test_slow_bdpe_shows_in_the_tally():
    net, plat = get_network("yolov3-tiny"), get_platform("paper-a53")
    fast = evaluate(net, plat, PUBLISHED_DOTP, latency_sweep=())
    slow = evaluate(net, plat, BDPEConfig(rram_latency_s=1.2e-9, register_latency_s=0.6e-9), latency_sweep=())
    assert slow.bdpe_config["chk_cycles"] == 3 and slow.bdpe_config["dpm_cycles"] == 2
    assert slow.bdpe["cycles"] > fast.bdpe["cycles"]
    assert slow.gain["performance"] < fast.gain["performance"]
    sweep = evaluate(net, plat, PUBLISHED_DOTP).latency_sweep
    assert [s["bdpe_latency_cycles"] for s in sweep] == [1, 2, 4, 8]
    perf = [s["performance"] for s in sweep]
    assert all(a > b for a, b in zip(perf, perf[1:]))


def test_capacity_sweep_is_monotone():
    net, plat = get_network("yolov3-tiny"), get_platform("paper-a53")
    gains = [evaluate(net, plat, BDPEConfig(rram_words=n), latency_sweep=()).gain for n in (0, 32, 128, 1024, 135200)]
    mem = [g["mem_access_reduction_per_bdp"] for g in gains]
    assert mem[0] == 0 and mem[-1] == pytest.approx(1.0) and all(a <= b for a, b in zip(mem, mem[1:]))
    usage = evaluate(net, plat, BDPEConfig(rram_words=None, rram_usage=0.5), latency_sweep=())
    assert usage.bdpe_usage == pytest.approx(0.5)


def test_cli_evaluate_json():
    proc = subprocess.run([sys.executable, "-m", "bdpe.cli", "evaluate", "--network", "yolov3-tiny", "--platform",
                           "paper-a53", "--published-dotp", "--rram-words", "128", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    for key in ("network", "platform", "bdp_ops", "kernel_words", "rram_words", "bdpe_usage", "baseline", "bdpe",
                "gain", "layers"):
        assert key in data
    for side in ("baseline", "bdpe"):
        for key in ("time_s", "cycles", "instructions", "l1d_reads", "energy_J", "energy_with_dram_J"):
            assert isinstance(data[side][key], (int, float))
    assert set(data["gain"]) >= {"performance", "energy", "mem_access_reduction_per_bdp"}
    assert data["bdp_ops"] == 42_658_304 and data["rram_words"] == 128
    bad = subprocess.run([sys.executable, "-m", "bdpe.cli", "evaluate", "--network", "yolov3-tiny", "--rram-usage", "1.5"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--rram-usage" in bad.stderr


@pytest.mark.parametrize("c,hw,f,k,stride,pad", [(1, 5, 2, 3, 1, 0), (3, 7, 5, 3, 1, 1), (16, 12, 32, 5, 1, 2),
                                                 (70, 9, 13, 3, 2, 1), (64, 6, 9, 3, 1, 1), (130, 6, 7, 1, 1, 0),
                                                 (200, 4, 3, 3, 2, 0)])
def test_compiled_engine_is_bit_exact(c, hw, f, k, stride, pad):
    """The compiled kernel (patches packed in (ky, kx, c) order) against the float convolution and the
    previous numpy packed path (im2col, (c, ky, kx) order): same outputs, same BDP count; channel
    counts below, at and above a word, odd kernels, strides and paddings."""
    from system_model.engine import binary_conv2d, binary_conv2d_numpy, float_conv2d

    rng = np.random.default_rng(c * 1000 + hw)
    x = rng.choice(np.array([-1, 1], dtype=np.int8), size=(c, hw, hw))
    w = rng.choice(np.array([-1, 1], dtype=np.int8), size=(f, c, k, k))
    out, bdps = binary_conv2d(x, w, stride, pad)
    ref = float_conv2d(x, w, stride, pad)
    assert np.array_equal(out, ref.astype(np.int64))
    out_np, bdps_np = binary_conv2d_numpy(x, w, stride, pad)
    assert np.array_equal(out, out_np) and bdps == bdps_np == out.size * -(-c * k * k // 64)


def test_compiled_dense_is_bit_exact():
    from system_model.engine import binary_dense

    rng = np.random.default_rng(5)
    x = rng.choice(np.array([-1, 1], dtype=np.int8), size=200)
    w = rng.choice(np.array([-1, 1], dtype=np.int8), size=(17, 200))
    out, bdps = binary_dense(x, w)
    assert np.array_equal(out, w.astype(np.int64) @ x.astype(np.int64)) and bdps == 17 * 4


@pytest.mark.parametrize("c,h,w,f,k,stride,pad", [
    (16, 9, 300, 6, 3, 1, 1),     # C = 16 (yolov3-tiny conv2), rows split into several pixel tiles
    (16, 7, 263, 3, 3, 2, 2),     # stride 2 over a split row, pad 2
    (8, 6, 11, 70, 3, 1, 1),      # several filter blocks, filters not a multiple of 4
    (5, 12, 10, 9, 5, 1, 2),      # C not a multiple of 8, k = 5
    (21, 8, 8, 4, 3, 1, 0),       # k*C = 63 bits per window, no padding
    (24, 13, 13, 5, 1, 1, 0),     # k = 1
    (40, 9, 7, 3, 3, 2, 1),       # a 32-channel group straddling two words
    (64, 20, 5, 5, 3, 1, 2),      # one word per pixel; ow < tile: several rows per tile
    (96, 5, 6, 4, 3, 1, 1),       # C > 64, not a multiple of 64
    (130, 3, 4, 2, 3, 2, 1),      # stride 2 on a map barely larger than the kernel
    (3, 4, 4, 5, 5, 1, 2),        # kernel as large as the map with padding
    (16, 128, 130, 4, 3, 1, 1),   # >= PARALLEL_PACK values: activations packed by threads
])
def test_compiled_engine_shapes_and_borders(c, h, w, f, k, stride, pad):
    """The compiled path's code paths (pixel tiles, filter blocks, border classes, window words)
    against the float convolution; one packed layer serves several inputs."""
    from system_model.engine import PackedConv

    rng = np.random.default_rng(c * 7 + h + w)
    wt = rng.choice(np.array([-1, 1], dtype=np.int8), size=(f, c, k, k))
    conv = PackedConv.from_weights(wt, stride, pad)
    for _ in range(2):
        x = rng.choice(np.array([-1, 1], dtype=np.int8), size=(c, h, w))
        out, bdps = conv(x)
        ref = float_conv2d(x, wt, stride, pad)
        assert out.shape == ref.shape and np.array_equal(out, ref.astype(np.int64))
        assert bdps == out.size * math.ceil(c * k * k / 64)  # the analytic (Darknet) word count


def test_compiled_engine_inputs():
    """+-1 in any dtype or memory layout; other values refused unless binarized by sign (x >= 0 -> +1,
    as between network layers); bad weights refused."""
    from system_model.engine import PackedConv

    rng = np.random.default_rng(11)
    x = rng.choice(np.array([-1, 1], dtype=np.int8), size=(6, 9, 8))
    w = rng.choice(np.array([-1, 1], dtype=np.int8), size=(4, 6, 3, 3))
    ref = float_conv2d(x, w, 1, 1).astype(np.int64)
    conv = PackedConv.from_weights(w, 1, 1)
    assert np.array_equal(conv(x.astype(np.float64))[0], ref)
    assert np.array_equal(conv(np.asfortranarray(x))[0], ref)
    assert np.array_equal(conv(x.transpose(0, 2, 1).copy().transpose(0, 2, 1))[0], ref)
    zero = x.copy()
    zero[5, 8, 7] = 0
    for bad in (zero, zero.astype(np.int64), x * 2):
        with pytest.raises(ValueError):
            conv(bad)
    real = rng.normal(size=x.shape)
    signed = np.where(real >= 0, 1, -1)
    assert np.array_equal(conv(real, binarize=True)[0], float_conv2d(signed, w, 1, 1).astype(np.int64))
    assert np.array_equal(conv(zero, binarize=True)[0], float_conv2d(np.where(zero >= 0, 1, -1), w, 1, 1))
    with pytest.raises(ValueError):
        PackedConv.from_weights(np.zeros((2, 6, 3, 3), dtype=np.int8))
    with pytest.raises(ValueError):
        conv(x[:5])
    with pytest.raises(ValueError):
        PackedConv.from_weights(w, 1, 0)(x[:, :2, :2])


@pytest.mark.parametrize("n,f", [(1, 3), (63, 5), (64, 4), (65, 9), (300, 70), (8192, 6)])
def test_compiled_dense_sizes(n, f):
    rng = np.random.default_rng(n)
    x = rng.choice(np.array([-1, 1], dtype=np.int8), size=n)
    w = rng.choice(np.array([-1, 1], dtype=np.int8), size=(f, n))
    out, bdps = binary_dense(x, w)
    assert np.array_equal(out, w.astype(np.int64) @ x.astype(np.int64)) and bdps == f * math.ceil(n / 64)


def test_sign_threshold_equals_numpy_fold():
    from system_model.engine import _apply_threshold
    from system_model.kernels import sign_threshold

    rng = np.random.default_rng(4)
    dots = rng.integers(-40, 40, size=(9, 50)).astype(np.int32)
    thr, flip = bn_thresholds(rng.normal(0, 1, 9), rng.normal(0, 1, 9), rng.normal(0, 9, 9), rng.uniform(0.5, 2, 9))
    thr[0] = float(dots[0, 0])  # a threshold hit exactly
    assert np.array_equal(sign_threshold(dots, thr, flip), _apply_threshold(dots, thr, flip))


@pytest.mark.parametrize("name", ["binarynet-cifar10", "finn-cnv", "finn-lfc"])
def test_prepared_network_runs_like_run_network(name):
    """Parameters drawn once: the same draws as run_network; the packed run equals the float run of
    the same parameters, on several inputs, and gives the network's BDP count."""
    from system_model.engine import prepare_network

    net = get_network(name)
    prepared = prepare_network(net, seed=3)
    rng = np.random.default_rng(8)
    for i in range(2):
        x = rng.choice([-1, 1], size=net.input_shape).astype(np.int8)
        out, counts = prepared.run(x)
        ref, ref_counts = prepared.run(x, reference=True)
        assert np.array_equal(out, ref)
        assert [c.bdps for c in counts] == [c.bdps for c in ref_counts] == [s.bdps for s in net.shapes()]
        if i == 0:
            again, again_counts = run_network(net, x, seed=3)
            assert np.array_equal(out, again) and counts == again_counts


# --- the pipelined engine and the unrolled word loop (issue 15) ----------------------------------


def test_scoreboard_engine_interval_hand_worked():
    """Two independent BDPs per iteration, each feeding its own accumulator, BDPE latency 2.
    Pipelined (a new op every cycle): chk0 @T, chk1 @T+1, add0 @T+2 (c0 ready), add1 @T+3, and the
    next chk0 issues at T+3 beside add1: 3 cycles per iteration. Unpipelined (busy 2 cycles): chk0
    @T, chk1 @T+2, add0 @T+2, add1 @T+4, next chk0 @T+4: 4 cycles."""
    from system_model.platform import scoreboard_cycles

    seq = [("chk", "c0", ("a",), "chk"), ("chk", "c1", ("a",), "chk"),
           ("add", "acc0", ("acc0", "c0"), "alu"), ("add", "acc1", ("acc1", "c1"), "alu")]
    lat = {"chk": 2, "alu": 1}
    assert scoreboard_cycles(seq, lat, 2, 400, {"chk": ("bdpe", 1)}) == 3
    assert scoreboard_cycles(seq, lat, 2, 400, {"chk": ("bdpe", 2)}) == 4
    # one op of latency 4: every 4 cycles unpipelined, every cycle on a fully pipelined unit
    one = [("chk", "c", ("a",), "chk")]
    assert scoreboard_cycles(one, {"chk": 4}, 2, 400, {"chk": ("bdpe", 4)}) == 4
    assert scoreboard_cycles(one, {"chk": 4}, 2, 400, {"chk": ("bdpe", 1)}) == 1


def test_unrolled_sequences_rename_registers_and_keep_one_loop_control():
    from system_model.platform import _sequence_counts, sequences

    one, two = sequences(1), sequences(2)
    for kind in ("baseline", "hit", "miss"):
        bumps = sum(1 for x in one[kind] if x[0] == "add" and x[1] in ("pa", "pb"))
        body = len(one[kind]) - bumps - 2
        assert len(two[kind]) == 2 * body + bumps + 2           # two bodies, pointer bumps and loop control once
        assert two[kind][-2:] == one[kind][-2:]
        dests = [x[1] for x in two[kind] if x[1] not in (None, "pa", "pb", "k")]
        own = {j: sorted(d[:-1] for d in dests if d.endswith(j)) for j in "01"}
        assert own["0"] == own["1"] and len(own["0"]) * 2 == len(dests)   # each copy writes its own registers
        for name, dst, srcs, _cls in two[kind]:                            # ... and reads only its own
            if dst not in (None, "pa", "pb", "k"):
                assert all(r in ("pa", "pb", "k") or r[-1] == dst[-1] for r in srcs), (name, dst, srcs)
    n1, _ = _sequence_counts(1)
    n2, loads2 = _sequence_counts(2)
    assert n1 == {"baseline": 12, "hit": 9, "miss": 11} and n2 == {"baseline": 10, "hit": 7, "miss": 9}
    assert loads2 == {"baseline": 2, "hit": 1, "miss": 2}
    with pytest.raises(ValueError, match="unroll 3"):
        sequences(3)


def test_pipelined_timing_of_the_engine():
    from dataclasses import replace

    from system_model import PUBLISHED_DOTP
    from system_model.platform import BDPEConfig

    assert PUBLISHED_DOTP.timing(2e9) == ((1, 1), (1, 1))
    assert replace(PUBLISHED_DOTP, pipelined=True).timing(2e9) == ((2, 1), (2, 1))  # 408/214 ps: both stages fit
    slow = BDPEConfig(rram_latency_s=3.63e-9, register_latency_s=2.5e-9, popcount_latency_s=2.24e-9)
    assert slow.timing(2e9) == ((8, 8), (5, 5))
    # pipelined: stages (1.39, 2.24) and (0.26, 2.24) ns -> 2.24 ns = 5 cycles each, latency 10
    assert replace(slow, pipelined=True).timing(2e9) == ((10, 5), (10, 5))
    assert replace(slow, pipelined=True, register_overhead_s=0.3e-9).timing(2e9) == ((12, 6), (12, 6))


def test_evaluate_pipelined_and_unrolled_published_engine():
    """Darknet's loop with the published 1-cycle engine is unchanged; a 2-cycle pipelined engine
    costs one cycle per hit in Darknet's loop (the CHK result feeds the hit/miss branch) and half
    a cycle when two BDPs are in flight; the software baseline gains from unrolling too."""
    from dataclasses import replace

    from system_model import PUBLISHED_DOTP, evaluate, get_network, get_platform

    net, plat = get_network("yolov3-tiny"), get_platform("paper-a53")
    runs = {(u, p): evaluate(net, replace(plat, unroll=u), replace(PUBLISHED_DOTP, pipelined=p),
                             uncertainty=False, latency_sweep=()).to_dict() for u in (1, 2) for p in (False, True)}
    base = runs[1, False]
    assert base["gain"]["performance"] == pytest.approx(0.10357, abs=2e-5)
    seq = {k: r["model"]["sequence_cycles"] for k, r in runs.items()}
    assert seq[1, True]["hit"] == seq[1, False]["hit"] + 1
    assert seq[2, True]["hit"] == seq[2, False]["hit"] + 0.5
    assert seq[2, False]["baseline"] < seq[1, False]["baseline"]
    for (u, p), r in runs.items():
        assert r["baseline"]["l1d_reads"] == base["baseline"]["l1d_reads"]   # unrolling moves no data
        assert r["gain"]["performance"] > 0                                   # a 2-cycle BDPE still pays
        assert r["bdpe_config"]["pipelined"] is p and r["model"]["unroll"] == u
    assert runs[1, True]["gain"]["performance"] < base["gain"]["performance"]


def test_cli_evaluate_pipelined_unrolled_as_typed():
    import subprocess
    import sys

    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "bdpe.cli", "evaluate", "--network", "yolov3-tiny", "--pipelined",
                        "--unroll", "2", "--json"], capture_output=True, text=True, cwd=root, timeout=300)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["bdpe_config"]["chk_cycles"] == 2 and data["bdpe_config"]["chk_interval_cycles"] == 1
    assert data["model"]["unroll"] == 2 and data["gain"]["performance"] > 0
    bad = subprocess.run([sys.executable, "-m", "bdpe.cli", "evaluate", "--network", "yolov3-tiny", "--unroll", "3"],
                         capture_output=True, text=True, cwd=root, timeout=300)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--unroll" in bad.stderr
