"""digits-bnn and bit errors: the shipped weights, the packed engine against a float reference, the
error model (only RRAM-resident words, what is flipped, BER 0 and 0.5, the fall with BER) and
``bdpe accuracy`` as a user types it."""
from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bdpe.cli import main
from system_model import evaluate, get_network, get_platform
from system_model.engine import binary_conv2d, binary_dense, pack_bits
from system_model.faults import (ALL_ONES, ber_from_tables, bernoulli_words, draw_flips, packed_dense,
                                 resident_word_masks, unpack_words)
from system_model.trained import (DIGITS_LEVELS, accuracy_under_errors, load_trained, predict_engine, predict_packed,
                                  predict_reference, thermometer)

ROOT = Path(__file__).resolve().parents[1]
BDPE = str(ROOT / ".venv" / "bin" / "bdpe")
TEST_IMAGES = 359
BNN_CORRECT = 342     # 0.9526: the documented clean accuracy of the shipped weights
FLOAT_CORRECT = 351   # 0.9777: the float reference of the same shape, trained the same way
BERS = (1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.2, 0.5)


@pytest.fixture(scope="module")
def model():
    return load_trained("digits-bnn")


def _layer_inputs(model):
    """The +-1 input of every layer of the clean network (from the float reference)."""
    h, inputs = model.test_x, []
    for i, w in enumerate(model.words):
        inputs.append(h)
        if i < len(model.thresholds):
            dots = h.astype(np.float64) @ unpack_words(w, model.layer_bits[i]).astype(np.float64).T
            h = np.where(dots >= model.thresholds[i], 1, -1).astype(np.int8)
    return inputs


# --- the trained network -------------------------------------------------------------------------


def test_shipped_weights_give_documented_accuracy(model):
    correct = int(np.sum(predict_packed(model, model.test_x) == model.test_y))
    assert len(model.test_y) == TEST_IMAGES and correct == BNN_CORRECT
    assert model.info["clean_accuracy"] == BNN_CORRECT / TEST_IMAGES
    assert round(model.info["float_accuracy"] * TEST_IMAGES) == FLOAT_CORRECT
    assert BNN_CORRECT / TEST_IMAGES >= 0.88 and (FLOAT_CORRECT - BNN_CORRECT) / TEST_IMAGES <= 0.06
    assert model.info["bnn_test_accuracy_batchnorm"] == model.info["clean_accuracy"]  # folding changed nothing


def test_test_set_is_load_digits_at_the_stored_indices(model):
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels, labels = digits.data.astype(np.uint8), digits.target.astype(np.uint8)
    assert hashlib.sha256(pixels.tobytes() + labels.tobytes()).hexdigest() == model.info["data_sha256"]
    index = np.array(model.info["test_index"])
    assert np.array_equal(model.info["test_pixels"], pixels[index]) and np.array_equal(model.test_y, labels[index])
    per_class = np.bincount(model.test_y, minlength=10)
    assert np.array_equal(per_class, [round(0.2 * n) for n in np.bincount(labels)])  # stratified 80/20


def test_network_registered_and_costed(model):
    net = get_network("digits-bnn")
    assert net.input_shape == (len(DIGITS_LEVELS), 8, 8) and model.network == net
    assert [(s.filters, s.words_per_filter) for s in net.shapes()] == [w.shape for w in model.words]
    assert net.kernel_words() == 768 + 1024 + 40 == net.bdps()  # one BDP per word per image
    result = evaluate(net, get_platform("paper-a53"), latency_sweep=()).to_dict()
    assert result["bdp_ops"] == 1832 and result["layers"][0]["rram_hits"] == 128


def test_packed_engine_is_bit_exact_with_float_reference(model):
    for i, (h, words) in enumerate(zip(_layer_inputs(model), model.words)):
        weights = unpack_words(words, model.layer_bits[i])
        assert np.array_equal(pack_bits(weights > 0), words)  # the stored words are the engine's layout
        reference = np.rint(h.astype(np.float64) @ weights.astype(np.float64).T).astype(np.int64)
        assert np.array_equal(packed_dense(h, words), reference)
        compiled, bdps = binary_conv2d(h.T.reshape(h.shape[1], 1, -1), weights.reshape(*weights.shape, 1, 1))
        assert np.array_equal(compiled[:, 0, :].T, reference) and bdps == len(h) * words.size
        for n in (0, 17, 358):
            assert np.array_equal(binary_dense(h[n], weights)[0], reference[n])
    packed = predict_packed(model, model.test_x)
    assert np.array_equal(packed, predict_reference(model, model.test_x))
    assert np.array_equal(packed, predict_engine(model, model.test_x))


def test_training_is_deterministic_and_folding_is_exact():
    """The training script on a small configuration: the same weights twice, and the deployed
    integer model (words, thresholds, output scale) predicts exactly as its float batch-norm form."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_digits_bnn", ROOT / "scripts" / "train_digits_bnn.py")
    script = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = script  # dataclasses look their module up there
    spec.loader.exec_module(script)
    cfg = script.TrainConfig(hidden=64, epochs=2)
    pixels, labels, _ = script.load_data()
    train_idx, _test_idx = script.split(labels, cfg)
    x, y = thermometer(pixels).astype(np.float64), labels.astype(np.int64)
    params = script.train(x[train_idx], y[train_idx], True, cfg)
    again = script.train(x[train_idx], y[train_idx], True, cfg)
    assert all(np.array_equal(p[k], q[k]) for p, q in zip(params, again) for k in p)
    stats = script.population_stats(params, x[train_idx], True, cfg.eps)
    arrays = script.deploy(params, stats, cfg.eps)
    h = thermometer(pixels)
    for name in ("fc1", "fc2"):
        h = np.where(packed_dense(h, arrays[f"{name}_words"]) >= arrays[f"{name}_threshold"], 1, -1).astype(np.int8)
    logits = packed_dense(h, arrays["fc3_words"]) * arrays["out_scale"] + arrays["out_offset"]
    float_logits, _ = script.forward(params, x, True, cfg.eps, stats)
    assert np.array_equal(np.argmax(logits, axis=1), np.argmax(float_logits, axis=1))
    assert np.allclose(logits, float_logits, rtol=0, atol=1e-9)


# --- the error model -----------------------------------------------------------------------------


def test_bernoulli_words_rate_and_determinism():
    for p in (1e-3, 0.05, 0.3, 0.5, 0.9):
        words = bernoulli_words(np.random.default_rng(1), (40_000,), p)
        bits = 64 * words.size
        assert abs(np.bitwise_count(words).sum() / bits - p) < 5 * math.sqrt(p * (1 - p) / bits), p
    assert not bernoulli_words(np.random.default_rng(1), (9,), 0.0).any()
    assert (bernoulli_words(np.random.default_rng(1), (9,), 1.0) == ALL_ONES).all()
    assert np.array_equal(bernoulli_words(np.random.default_rng(7), (5, 3), 0.01),
                          bernoulli_words(np.random.default_rng(7), (5, 3), 0.01))
    with pytest.raises(ValueError):
        bernoulli_words(np.random.default_rng(1), (3,), 1.5)


def test_flipping_the_word_is_flipping_the_xnor_output(model):
    """~(x ^ (w ^ e)) == ~(x ^ w) ^ e; and a persistent flip equals the float reference with the
    flipped weights; a transient mask equal on every read equals the persistent one."""
    rng = np.random.default_rng(3)
    h, words = _layer_inputs(model)[1], model.words[1]
    e = bernoulli_words(rng, words.shape, 0.2)
    xb, wrong = pack_bits(h > 0)[:, None, :], words ^ e
    assert np.array_equal(~(xb ^ wrong), ~(xb ^ words) ^ e)
    flipped = unpack_words(wrong, model.layer_bits[1]).astype(np.float64)
    assert np.array_equal(packed_dense(h, words, e), np.rint(h.astype(np.float64) @ flipped.T).astype(np.int64))
    assert np.array_equal(packed_dense(h, words, np.broadcast_to(e, (len(h),) + e.shape)), packed_dense(h, words, e))


@pytest.mark.parametrize("mode", ["persistent", "transient"])
def test_ber_zero_is_exactly_clean(model, mode):
    result = accuracy_under_errors(model, 0.0, mode=mode, seeds=3)
    assert result["accuracies"] == [BNN_CORRECT / TEST_IMAGES] * 3 == [result["clean_accuracy"]] * 3
    assert result["accuracy_std"] == 0.0 and result["flipped_bits_mean"] == 0


@pytest.mark.parametrize("mode", ["persistent", "transient"])
def test_ber_half_on_every_word_is_chance(model, mode):
    result = accuracy_under_errors(model, 0.5, mode=mode, seeds=5)
    sigma = math.sqrt(0.1 * 0.9 / TEST_IMAGES)  # binomial spread over the test set
    assert abs(result["accuracy"] - 0.1) <= 3 * sigma, result["accuracies"]
    assert abs(result["flipped_bits_mean"] / result["bits_at_risk"] - 0.5) < 0.01


@pytest.mark.parametrize("mode", ["persistent", "transient"])
def test_accuracy_falls_with_ber(model, mode):
    runs = [accuracy_under_errors(model, ber, mode=mode, seeds=5) for ber in BERS]
    for a, b in zip(runs, runs[1:]):  # never rises beyond 3 standard errors of the difference
        noise = 3 * math.sqrt((a["accuracy_std"] ** 2 + b["accuracy_std"] ** 2) / 5)
        assert b["accuracy"] <= a["accuracy"] + noise, (a["ber"], a["accuracies"], b["ber"], b["accuracies"])
    assert runs[0]["accuracy"] >= runs[0]["clean_accuracy"] - 0.01   # 1e-4: a few flips, no damage
    assert runs[5]["accuracy"] < runs[2]["accuracy"] - 0.3            # 0.2 against 1e-2: a real fall


@pytest.mark.parametrize("mode", ["persistent", "transient"])
def test_words_outside_the_fill_are_never_touched(model, mode):
    for ber in (0.5, 1.0):
        result = accuracy_under_errors(model, ber, mode=mode, rram_words=0, seeds=2)
        assert result["accuracies"] == [result["clean_accuracy"]] * 2
        assert result["rram_words"] == 0 and result["flipped_bits_mean"] == 0 == result["bits_at_risk"]


def test_fill_places_most_used_words_first_and_only_those_flip(model):
    net = model.network
    masks = resident_word_masks(net, 100)
    fc1, fc2, fc3 = (masks[s.index] for s in net.shapes())
    assert fc1.reshape(-1)[:100].all() and not fc1.reshape(-1)[100:].any() and not fc2.any() and not fc3.any()
    assert all(m.all() for m in resident_word_masks(net, None).values())
    flips = draw_flips(np.random.default_rng(0), fc1, 192, 1.0, "transient", 4)
    assert (flips.reshape(4, -1)[:, :100] == ALL_ONES).all() and not flips.reshape(4, -1)[:, 100:].any()


def test_ber_one_on_the_first_layer_inverts_exactly_its_weights(model):
    """Capacity 768 = fc1 exactly: at BER 1 every stored fc1 bit is wrong and nothing else."""
    result = accuracy_under_errors(model, 1.0, mode="persistent", rram_words=768, seeds=1)
    inverted = type(model)(**{**model.__dict__, "words": (~model.words[0],) + model.words[1:]})
    expected = np.mean(predict_reference(inverted, inverted.test_x) == model.test_y)
    assert result["accuracies"] == [expected] and result["rram_words_by_layer"] == {"fc1": 768, "fc2": 0, "fc3": 0}
    assert result["flipped_bits_mean"] == 768 * 64 == result["bits_at_risk"]


class _FakeTables:
    def __init__(self, operations, value=0.0):
        self.operations, self.value, self.calls = operations, value, []

    def lookup(self, op, metric, **coords):
        self.calls.append((op, metric, coords))
        return self.value


def test_ber_from_tables_extension_point():
    with pytest.raises(KeyError):
        ber_from_tables(_FakeTables(["bdpe_rram"]), corner="tt", vdd=1.8, window=20)
    tables = _FakeTables(["sense_ber"], 2.5e-3)
    assert ber_from_tables(tables, corner="ss", vdd=1.6, window=10) == 2.5e-3
    assert tables.calls == [("sense_ber", "ber", {"corner": "ss", "vdd": 1.6, "window": 10})]
    with pytest.raises(ValueError, match="not a probability"):
        ber_from_tables(_FakeTables(["sense_ber"], float("nan")), corner="tt", vdd=1.8, window=20)


# --- bdpe accuracy -------------------------------------------------------------------------------


def _bdpe(*args):
    return subprocess.run([BDPE, *args], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "BDPE_DEBUG": ""})


def test_cli_accuracy_json_as_typed():
    proc = _bdpe("accuracy", "--network", "digits-bnn", "--ber", "0.01", "--seeds", "3", "--json")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    data = json.loads(proc.stdout)
    assert data["clean_accuracy"] == BNN_CORRECT / TEST_IMAGES and data["ber"] == 0.01 and data["seeds"] == 3
    assert len(data["accuracies"]) == 3 and data["accuracy"] == pytest.approx(np.mean(data["accuracies"]))
    assert data["accuracy_std"] == pytest.approx(np.std(data["accuracies"], ddof=1))
    assert data["rram_words"] == data["kernel_words"] == 1832 and data["test_images"] == TEST_IMAGES
    assert data["mode"] == "persistent" and data["rram_capacity"] == "all" and data["ber_source"] == "--ber"


def test_cli_accuracy_text_and_capacity_zero_as_typed():
    proc = _bdpe("accuracy", "--network", "digits-bnn", "--ber", "0.5", "--rram-words", "0", "--mode", "transient")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and "clean test accuracy 0.9526" in lines[0] and "0 of 1832 kernel words" in lines[1]
    assert lines[2].startswith("accuracy 0.9526 +- 0.0000")


@pytest.mark.parametrize("args,needle", [
    (["--ber", "1.5"], "--ber 1.5: must be within [0, 1]"),
    (["--seeds", "0"], "--seeds 0: must be within 1..1000"),
    (["--tables", "no-such.h5"], "--tables 'no-such.h5': no such file"),
])
def test_cli_bad_input_as_typed(args, needle):
    proc = _bdpe("accuracy", "--network", "digits-bnn", *args)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bdpe: error: ") and needle in lines[0], proc.stderr


def _tables_without_sense_ber(path: Path) -> Path:
    from characterize.tables import OperationTable, write_tables

    axes = {"corner": np.array(["tt"], dtype=object), "vdd": np.array([1.8]), "temperature": np.array([27.0])}
    table = OperationTable("bdpe_rram", axes, {"corner": "-", "vdd": "V", "temperature": "degC"},
                           {"latency_s": np.full((1, 1, 1), 1e-9)}, {"latency_s": "s"}, {},
                           np.zeros((1, 1, 1), np.int8), np.full((1, 1, 1), "", dtype=object))
    write_tables(path, [table], {"technology": "sky130"})
    return path


@pytest.mark.parametrize("args,needle", [
    (["--network", "digits-bnn", "--ber", "-0.1"], "--ber -0.1: must be within [0, 1]"),
    (["--network", "digits-bnn", "--ber", "abc"], "'abc' is not a number"),
    (["--network", "digits-bnn", "--ber", "nan"], "--ber"),
    (["--network", "digits-bnn", "--ber", "１"], "--ber"),
    (["--network", "nope"], "--network 'nope': is not a built-in network (trained networks: digits-bnn)"),
    (["--network", "yolov3-tiny"], "--network 'yolov3-tiny': has no trained weights"),
    (["--network", "digits-bnn", "--rram-words", "-1"], "--rram-words -1: must be within 0..1000000000, or all"),
    (["--network", "digits-bnn", "--rram-words", "most"], "--rram-words"),
    (["--network", "digits-bnn", "--mode", "sometimes"], "--mode"),
    (["--network", "digits-bnn", "--seeds", "-2"], "--seeds -2"),
    (["--network", "digits-bnn", "--corner", "tt"], "--corner: only meaningful with --tables"),
    (["--network", "digits-bnn", "--ber", "0.1", "--tables", "t.h5"], "not allowed with argument"),
    (["--network", "digits-bnn", "--tables", "{tables}", "--corner", "tt", "--vdd", "1.8", "--window", "20"],
     "holds no sense_ber operation"),
    (["--network", "digits-bnn", "--tables", "{dir}"], "is a directory"),
])
def test_cli_bad_input_one_line(tmp_path, capsys, args, needle):
    tables = _tables_without_sense_ber(tmp_path / "t.h5")
    argv = ["accuracy"] + [a.format(tables=tables, dir=tmp_path) for a in args]
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and captured.out == "", (code, captured)
    assert len(lines) == 1 and lines[0].startswith("bdpe: error: ") and needle in lines[0], lines
