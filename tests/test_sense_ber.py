"""Variability -> read bit-error rate (issue 16): the two BER estimates against known answers, the
mismatch plumbing (technology sections, seeds, RRAM draws, the library's matching constants), the
``sense_ber`` table in ``bdpe accuracy``, and one small real Monte Carlo (few columns)."""
from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bdpe.cli import main
from characterize.ber_stats import best_ber, clopper_pearson, fit_margins, normal_tail, state_ber
from characterize.ber_testbenches import SENSE_BER, SenseBerTB, trip_points
from circuits.bdpe import ArrayParams, d2d_resistance_factors, rram_array
from circuits.mismatch import vth_mismatch
from circuits.netlist import NetlistValueError
from circuits.technology import ideal, sky130
from system_model.faults import ber_from_tables

ROOT = Path(__file__).resolve().parents[1]
BDPE = str(ROOT / ".venv" / "bin" / "bdpe")


# --- the estimates, on synthetic margins with a known answer -------------------------------------


def test_clopper_pearson_matches_scipy_and_the_zero_error_bound():
    for k, n in ((0, 10), (3, 50), (50, 50), (17, 1000)):
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert clopper_pearson(k, n) == pytest.approx((ci.low, ci.high), rel=1e-9, abs=1e-15)
    assert clopper_pearson(0, 1000)[1] == pytest.approx(1 - 0.025 ** (1 / 1000))  # ~3.7 / n
    with pytest.raises(ValueError):
        clopper_pearson(5, 4)


def test_counted_ber_interval_covers_the_true_rate():
    """200 synthetic Monte Carlo runs of 2000 normal margins, true BER Phi(-2) = 2.28 %: the counted
    95 % interval covers it in about 95 % of the runs (exact intervals: at least that)."""
    rng = np.random.default_rng(16)
    truth = stats.norm.sf(2.0)
    covered = 0
    for _ in range(200):
        m = rng.normal(2.0, 1.0, 2000)
        est = state_ber(m, m < 0)
        covered += est.counted_lo <= truth <= est.counted_hi
    assert 0.92 <= covered / 200 <= 0.995


def test_fitted_tail_agrees_with_the_count_where_they_overlap():
    """Where errors are countable (BER 0.5 % .. 20 %) the normal-fit tail lies inside the counted
    interval, and both are close to the truth."""
    rng = np.random.default_rng(7)
    for z in (0.85, 1.5, 2.0, 2.5):
        m = rng.normal(0.02 * z, 0.02, 5000)   # volts, as the testbench gives them
        est = state_ber(m, m < 0)
        assert est.counted_lo <= est.fit.ber <= est.counted_hi, (z, est)
        assert est.fit.ber == pytest.approx(stats.norm.sf(z), rel=0.15)


def test_fitted_tail_reaches_rates_too_small_to_count():
    rng = np.random.default_rng(3)
    m = rng.normal(5.0, 1.0, 2000)   # true BER 2.9e-7: no error in 2000 samples
    est = state_ber(m, m < 0)
    assert est.errors == 0 and est.counted_hi == pytest.approx(1 - 0.025 ** (1 / 2000))
    assert est.fitted_used and est.ber == est.fit.ber
    assert 1e-8 < est.fit.ber < 1e-5 and est.fit.ber < est.counted_hi
    assert normal_tail(6.0, 1.0) == pytest.approx(9.87e-10, rel=1e-3)


def test_best_ber_counts_when_the_tail_is_inside_the_samples():
    assert best_ber(25, 100, 0.3) == (0.25, False)
    assert best_ber(3, 100, 0.02) == (0.02, True)
    assert best_ber(3, 100, math.nan) == (0.03, False)


def test_normality_test_flags_a_skewed_margin():
    rng = np.random.default_rng(1)
    assert fit_margins(rng.normal(0, 1, 500)).shapiro_p > 1e-3
    assert fit_margins(rng.lognormal(0, 1, 500)).shapiro_p < 1e-6


def test_trip_point_brackets():
    x = np.array([[0.0, 0.04, 0.02, 0.03], [0.0, -0.04, -0.06, -0.07], [0.0, 0.04, 0.06, 0.07]])
    d = np.array([[0, 1, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0]])
    vos, clipped = trip_points(x, d)
    assert vos[0] == pytest.approx(0.025) and list(clipped) == [False, True, True] and np.isnan(vos[1:]).all()


# --- mismatch plumbing -----------------------------------------------------------------------------


def test_technology_mismatch_selects_the_mm_section():
    tech = sky130()
    assert tech.library_lines("ss")[0].endswith(" ss")
    mm = tech.with_mismatch()
    assert mm.library_lines("ss")[0].endswith(" ss_mm") and mm.library_section(None) == "tt_mm"
    assert mm.with_mismatch(False) == tech and hash(mm) != hash(tech)
    with pytest.raises(NetlistValueError, match="no mismatch models"):
        ideal().with_mismatch()


def test_sense_ber_deck_carries_seed_and_mismatch_section():
    spec = SENSE_BER.spec(SenseBerTB(columns=4, seed=42))
    assert spec.seed == 42 and spec.technology.mismatch and " tt_mm" in spec.netlist()
    nominal = SENSE_BER.spec(SenseBerTB(columns=4, mismatch=0, corner="ff"))
    assert nominal.seed is None and nominal.netlist().count(" ff\n") == 1


def test_rram_d2d_factors_are_lognormal_with_mean_one_and_reproducible():
    f = np.array(d2d_resistance_factors(0.25, 5, range(20000)))
    assert f.mean() == pytest.approx(1.0, abs=0.01) and f.std() / f.mean() == pytest.approx(0.25, rel=0.05)
    assert d2d_resistance_factors(0.25, 5, [3, 7]) == [f[3], f[7]]
    assert d2d_resistance_factors(0.25, 6, [3]) != [f[3]]
    assert d2d_resistance_factors(0.0, 5, [1, 2]) == [1.0, 1.0]


def test_array_with_spread_gives_every_read_cell_its_own_device(sky130_tech):
    plain, subs = rram_array(ArrayParams(rows=8, cols=4, words=(0b0101,)), sky130_tech)
    spread, subs_d2d = rram_array(ArrayParams(rows=8, cols=4, words=(0b0101,), d2d_sigma=0.25, d2d_seed=1), sky130_tech)
    assert len(subs_d2d) == len(subs) + 2 and plain.name != spread.name     # 4 own cells instead of rr1/rr0
    again, _ = rram_array(ArrayParams(rows=8, cols=4, words=(0b0101,), d2d_sigma=0.25, d2d_seed=1), sky130_tech)
    assert again.text == spread.text
    with pytest.raises(NetlistValueError, match="static"):
        rram_array(ArrayParams(rows=8, cols=4, words=(1,), dynamic=True, d2d_sigma=0.1), sky130_tech)


def test_vth_mismatch_reads_the_libraries_matching_constants(sky130_tech):
    """Pelgrom's law as the SKY130 models write it: sw_mm_vth0 / sqrt(W L), the nfet_01v8 times its
    geometry factors, mult as more area."""
    n = vth_mismatch(sky130_tech, "nmos", 1.0, 0.15)
    geometry = (0.008 * 8 / 0.15 + 0.992) * (0.035 * 7 / 1.0 + 0.965) * (0.001 * 56 / 0.15 + 0.999)
    assert n.coefficient_name == "sw_mm_vth0_sky130_fd_pr__nfet_01v8" and n.coefficient_Vum == 3.356e-3
    assert n.sigma_V == pytest.approx(3.356e-3 / math.sqrt(0.15) * geometry, rel=1e-9)
    p = vth_mismatch(sky130_tech, "pmos", 2.0, 0.15)
    assert p.coefficient_Vum == 5.856e-3 and p.sigma_V == pytest.approx(5.856e-3 / math.sqrt(0.3), rel=1e-9)
    assert vth_mismatch(sky130_tech, "nmos", 1.0, 0.15, mult=64).sigma_V == pytest.approx(n.sigma_V / 8)


# --- the table in bdpe accuracy --------------------------------------------------------------------


def _sense_ber_table(path: Path, windows=(2.0, 20.0, 200.0), bers=(0.3, 1e-3, 1e-9)) -> Path:
    from characterize.tables import OperationTable, write_tables

    shape = (1, 1, 1, len(windows), 2)
    axes = {"corner": np.array(["tt"], dtype=object), "vdd": np.array([1.8]), "temperature": np.array([27.0]),
            "window": np.array(windows), "d2d_sigma": np.array([0.0, 0.25])}
    ber = np.empty(shape)
    ber[..., 0] = np.array(bers)[None, None, None, :]
    ber[..., 1] = np.minimum(1.0, 10 * np.array(bers))[None, None, None, :]
    units = {"corner": "-", "vdd": "V", "temperature": "degC", "window": "-", "d2d_sigma": "-"}
    table = OperationTable("sense_ber", axes, units, {"ber": ber}, {"ber": "-"}, {}, np.zeros(shape, np.int8),
                           np.full(shape, "", dtype=object))
    write_tables(path, [table], {"technology": "sky130"})
    return path


def test_ber_from_tables_interpolates_log_log_between_windows(tmp_path):
    from characterize import open_tables

    t = open_tables(_sense_ber_table(tmp_path / "t.h5"))
    assert ber_from_tables(t, corner="tt", vdd=1.8, window=20.0, d2d_sigma=0.0) == 1e-3
    mid = ber_from_tables(t, corner="tt", vdd=1.8, window=math.sqrt(20 * 200), d2d_sigma=0.0)
    assert mid == pytest.approx(math.sqrt(1e-3 * 1e-9), rel=1e-9)           # geometric mean of both ends
    with pytest.raises(ValueError, match="outside the characterized windows"):
        ber_from_tables(t, corner="tt", vdd=1.8, window=500.0, d2d_sigma=0.0)
    with pytest.raises(ValueError, match="d2d_sigma"):
        ber_from_tables(t, corner="tt", vdd=1.8, window=20.0)              # two spreads: say which


def test_cli_accuracy_reads_a_sense_ber_table(tmp_path, capsys):
    path = _sense_ber_table(tmp_path / "t.h5")
    code = main(["accuracy", "--network", "digits-bnn", "--tables", str(path), "--corner", "tt", "--vdd", "1.8",
                 "--window", "20", "--d2d-sigma", "0.25", "--seeds", "2", "--json"])
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert code == 0 and data["ber"] == pytest.approx(1e-2) and "d2d_sigma 0.25" in data["ber_source"]
    assert 0.9 < data["accuracy"] <= data["clean_accuracy"] + 0.01


@pytest.mark.parametrize("args,needle", [
    (["--window", "500", "--d2d-sigma", "0"], "window 500 is outside the characterized windows [2, 200]"),
    (["--window", "1.5", "--d2d-sigma", "0"], "outside the characterized windows"),
    (["--window", "20"], "axis 'd2d_sigma' needs a value"),
    (["--window", "20", "--d2d-sigma", "0.5"], "d2d_sigma=0.5 is outside the table"),
    (["--window", "20", "--d2d-sigma", "0", "--corner", "ss"], "corner='ss' is not in the table"),
])
def test_cli_accuracy_bad_operating_point_one_line(tmp_path, capsys, args, needle):
    path = _sense_ber_table(tmp_path / "t.h5")
    argv = ["accuracy", "--network", "digits-bnn", "--tables", str(path), "--corner", "tt", "--vdd", "1.8", *args]
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("bdpe: error: ") and needle in err[0], err


def test_cli_accuracy_spread_needs_tables(capsys):
    assert main(["accuracy", "--network", "digits-bnn", "--d2d-sigma", "0.1"]) == 2
    assert "--d2d-sigma: only meaningful with --tables" in capsys.readouterr().err


def _ber_table_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("ber_table", ROOT / "scripts" / "ber_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_ber_table_script_crossings():
    crossing_window = _ber_table_script().crossing_window

    w = np.array([1.5, 3.0, 10.0, 100.0])
    assert crossing_window(w, np.array([0.4, 0.1, 1e-2, 1e-5]), 1e-3)[1] == f"{10 * 10 ** (1 / 3):.3g}"
    assert crossing_window(w, np.array([0.4, 0.1, 1e-2, 1e-5]), 1e-6)[1] == "> 100"
    assert crossing_window(w, np.array([1e-4, 1e-2, 1e-5, 1e-6]), 1e-3)[1] == f"{np.exp(np.log(3) + np.log(10 / 3) / 3):.3g}"
    assert crossing_window(w, np.array([1e-4, 1e-5, 1e-5, 1e-6]), 1e-3)[1] == "<= 1.5"


# --- one small real Monte Carlo ----------------------------------------------------------------------

_SMALL = """
[campaign]
name = "sense_ber_small"
technology = "sky130"
[seeds]
variability = 3
[axes]
corner = ["tt"]
vdd = [1.8]
temperature = [27.0]
[operations.sense_ber]
axes = { window = [1.5, 270.0], d2d_sigma = [0.25] }
params = { columns = 8, offset_steps = 3 }
"""


@pytest.fixture(scope="module")
def small_campaign(tmp_path_factory):
    d = tmp_path_factory.mktemp("sense_ber")
    (d / "c.toml").write_text(_SMALL)
    proc = subprocess.run([BDPE, "characterize", str(d / "c.toml"), "-o", str(d / "t.h5"), "--cache", str(d / "cache"),
                           "--jobs", "1", "--no-progress"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    from characterize import open_tables

    return d / "t.h5", open_tables(d / "t.h5")


@pytest.mark.ngspice
def test_small_monte_carlo_offsets_spread_and_window_lowers_ber(small_campaign):
    _, t = small_campaign
    get = lambda metric, w: t.lookup("sense_ber", metric, corner="tt", vdd=1.8, window=w)  # noqa: E731
    assert get("samples", 270.0) == 8 and get("samples_lrs", 270.0) == 4
    assert get("offset_sigma_V", 270.0) > 5e-3                       # mismatch is on: the latches differ
    assert get("ber", 270.0) < get("ber", 1.5) and get("ber", 1.5) > 0.2   # at window 1.5 it is a coin toss
    assert get("margin_mean_lrs_V", 270.0) > get("margin_mean_lrs_V", 1.5)
    assert get("agreement", 270.0) >= 0.75


@pytest.mark.ngspice
def test_cli_accuracy_with_a_real_sense_ber_table(small_campaign):
    path, t = small_campaign
    proc = subprocess.run([BDPE, "accuracy", "--network", "digits-bnn", "--tables", str(path), "--corner", "tt",
                           "--vdd", "1.8", "--window", "270", "--seeds", "1", "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, "BDPE_DEBUG": ""})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ber"] == t.lookup("sense_ber", "ber", corner="tt", vdd=1.8, window=270.0)
    bad = subprocess.run([BDPE, "accuracy", "--network", "digits-bnn", "--tables", str(path), "--corner", "tt",
                          "--vdd", "1.8", "--window", "300"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
    assert "window 300 is outside the characterized windows [1.5, 270]" in bad.stderr


@pytest.mark.ngspice
def test_same_seed_same_samples_other_seed_other_samples():
    """Reproducibility: the same seed gives the same transistor and RRAM draws, in a fresh worker and
    after other runs in the same worker; another seed gives other draws."""
    from characterize.ber_testbenches import sense_ber_samples
    from characterize.runtime import SimulationPool

    p = SenseBerTB(columns=4, offset_steps=2, d2d_sigma=0.25, window=20.0)
    other = SenseBerTB(columns=4, offset_steps=2, d2d_sigma=0.25, window=20.0, seed=2)
    with SimulationPool(1) as pool:
        runs = pool.map([SENSE_BER.spec(p), SENSE_BER.spec(other), SENSE_BER.spec(p)])
    with SimulationPool(1) as pool:
        fresh = pool.run(SENSE_BER.spec(p))
    a, b, again, new = (sense_ber_samples(q, r) for q, r in zip((p, other, p, p), runs + [fresh]))
    for key in ("x_read", "vos", "margin", "decision"):
        np.testing.assert_array_equal(a[key], again[key])
        np.testing.assert_array_equal(a[key], new[key])
    assert not np.array_equal(a["vos"], b["vos"]) and not np.array_equal(a["x_read"], b["x_read"])


@pytest.mark.ngspice
def test_report_adds_accuracy_vs_window_from_a_second_table_file(report_tables, small_campaign, tmp_path):
    """`bdpe report --tables BDPE.h5 --tables SENSE_BER.h5` as a user types it: the figure appears,
    named by the second file; a repeated file and a file of another technology are refused (one
    line, exit 2, no report directory)."""
    path, t = small_campaign
    out = tmp_path / "rep"
    proc = subprocess.run([BDPE, "report", "--tables", str(report_tables), "--tables", str(path), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr
    md = (out / "report.md").read_text()
    assert (out / "fig_accuracy_window.png").stat().st_size > 1000 and "](fig_accuracy_window.png)" in md
    assert f"{path.name}:sense_ber" in md and "More tables:" in md
    summary = json.loads((out / "summary.json").read_text())
    accs = summary["accuracy_vs_window"]["accuracy"]["tt, d2d_sigma=0.25"]
    assert len(accs) == 2 and all(0.0 <= a <= 1.0 for a in accs)
    assert accs[1] >= accs[0] - 0.05          # window 270 is no worse than 1.5 (a coin toss there)
    other = _sense_ber_table(tmp_path / "ideal.h5")
    import h5py
    with h5py.File(other, "r+") as f:
        f.attrs["technology"] = "ideal"
    import shutil
    copy = tmp_path / "copy.h5"
    shutil.copy(path, copy)
    for extra, needle in (([path, path], "the same file as"), ([path, copy], "operation 'sense_ber' is also in"), ([other], "technology 'ideal' differs from 'sky130' and its files hold no bdpe_rram")):
        bad_out = tmp_path / "bad"
        argv = [BDPE, "report", "--tables", str(report_tables), "--out", str(bad_out)]
        for e in extra:
            argv += ["--tables", str(e)]
        bad = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=300)
        err = bad.stderr.strip().splitlines()
        assert bad.returncode == 2 and len(err) == 1 and needle in err[0], bad.stderr
        assert not bad_out.exists()
