"""Regression tests of the hardening issue: every defect found by the malformed-input sweep, as the
user meets it (the command line, in-process or as a real process), plus the honest-data fixes.

The fuzz test (tests/test_fuzz.py) covers the same surfaces with generated input; these tests pin
each defect that was found by hand.
"""
from __future__ import annotations

import ast
import json
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from bdpe.cli import main
from characterize.cache import Cache
from characterize.campaign import CampaignError, parse_campaign, plan
from characterize.execute import finish_point
from characterize.results import assemble_tables
from characterize.runtime import SimResult
from characterize.tables import OperationTable, TableError, open_tables, write_tables
from characterize.testbenches import Testbench as _Testbench, get_testbench
from circuits.netlist import NetlistValueError, check_int, check_number, check_word
from campaign_texts import TINY

ROOT = Path(__file__).resolve().parents[1]
BDPE = [sys.executable, "-m", "bdpe.cli"]


def run_main(capsys, *argv) -> tuple[int, list[str], str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines(), captured.out


def assert_bad_input(capsys, *argv, needle: str) -> None:
    code, err, out = run_main(capsys, *argv)
    assert code == 2, (code, err)
    assert len(err) == 1 and err[0].startswith("bdpe: error: ") and needle in err[0], err
    assert out == ""
    assert not Path(os.environ["BDPE_NETLIST_DIR"]).exists(), "bad input reached a simulator"


@pytest.fixture(autouse=True)
def _netlist_dir(tmp_path, monkeypatch):
    """A worker that loads a deck writes it here: bad input must never get that far."""
    monkeypatch.setenv("BDPE_NETLIST_DIR", str(tmp_path / "netlists"))
    monkeypatch.setenv("BDPE_CACHE", str(tmp_path / "default-cache"))


# ---------------------------------------------------------------------------------------------
# 64-bit words


@pytest.mark.parametrize("text,value", [("0x0123456789abcdef", 0x0123456789ABCDEF), ("0XFFFFFFFFFFFFFFFF", 2**64 - 1),
                                        ("0x0", 0), ("0", 0), ("18446744073709551615", 2**64 - 1), ("42", 42)])
def test_words_accepted(text, value):
    assert check_word("stored", text) == value


@pytest.mark.parametrize("text", ["0x", "0x10000000000000000", "18446744073709551616", "-1", "+5", "0x1__2",
                                  "0x_1", "01", "٢", "１２", "0xg", " 0x1", "0x1 ", "1e3", "0b101", ""])
def test_words_refused(text):
    with pytest.raises(NetlistValueError, match="stored"):
        check_word("stored", text)


def test_bdpe_example_parses_on_the_command_line(capsys):
    code, err, out = run_main(capsys, "simulate", "bdpe-op", "--set", "stored=0x0123456789abcdef", "--set",
                              "input=0xffff0000ffff0000", "--json", "--dry-run")
    assert code == 0, err
    data = json.loads(out)
    assert data["params"]["stored"] == "0x0123456789abcdef" and data["params"]["input"] == "0xffff0000ffff0000"
    code, err, out = run_main(capsys, "simulate", "program-word", "--set", "word=16045690984503098046",
                              "--json", "--dry-run")
    assert code == 0, err
    assert json.loads(out)["params"]["word"] == "0xdeadbeefcafebabe"


def test_words_in_campaign_params():
    text = """
[campaign]
name = "w"
[operations.bdpe_rram]
axes = { stored = ["0x0123456789abcdef", 255] }
params = { input = "0xffff0000ffff0000" }
"""
    points = plan(parse_campaign(text))
    assert [p.params.stored for p in points] == ["0x0123456789abcdef", "0x00000000000000ff"]
    with pytest.raises(CampaignError, match="stored"):
        plan(parse_campaign(text.replace("255", '"0x1__2"')))


# ---------------------------------------------------------------------------------------------
# integers and numbers: ASCII only, no tracebacks


@pytest.mark.parametrize("text", ["010", "0x_", "0b_", "0x1__2", "1_000", "٢", "６４", "0o7", "", " 4", "4\n"])
def test_integers_refused(text):
    with pytest.raises(NetlistValueError, match="rows"):
        check_int("rows", text)


@pytest.mark.parametrize("text", ["١.٨", "１.８", "1.8 ", "nan", "inf", "1e999", "0x1p3", "1,8", ""])
def test_numbers_refused(text):
    with pytest.raises(NetlistValueError, match="vdd"):
        check_number("vdd", text)


@pytest.mark.parametrize("assignment,field", [("rows=010", "rows"), ("full=0x_", "full"), ("rows=0x1__2", "rows"),
                                              ("vdd=１.８", "vdd"), ("rows=６４", "rows")])
def test_cli_integers_one_line(capsys, assignment, field):
    op = "cell-read" if field == "full" else "bdpe-op"
    assert_bad_input(capsys, "simulate", op, "--set", assignment, "--dry-run", needle=f"{field}:")


def test_inverter_chain_stages_0b(capsys):
    assert_bad_input(capsys, "simulate", "inverter-chain", "--set", "stages=0b_", needle="stages:")


# ---------------------------------------------------------------------------------------------
# destinations validated before any simulation


def _campaign(tmp_path, text=TINY) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_characterize_output_destinations(capsys, tmp_path):
    toml = _campaign(tmp_path)
    (tmp_path / "dir.h5").mkdir()
    ro = tmp_path / "ro.h5"
    ro.write_bytes(b"")
    ro.chmod(0o444)
    cases = [(tmp_path / "dir.h5", "is a directory"), (tmp_path / "missing" / "t.h5", "does not exist"),
             ("/proc/t.h5", "not writable"), (ro, "read-only"), (tmp_path / "t.txt", "must end in .h5"),
             ("", "empty")]
    for target, needle in cases:
        assert_bad_input(capsys, "characterize", toml, "-o", target, "--cache", tmp_path / "cache", needle=needle)
    cache_file = tmp_path / "cache-file"
    cache_file.write_text("x")
    assert_bad_input(capsys, "characterize", toml, "-o", tmp_path / "t.h5", "--cache", cache_file,
                     needle="not a directory")
    assert_bad_input(capsys, "characterize", toml, "-o", tmp_path / "t.h5", "--cache", "/proc/cache",
                     needle="not writable")
    assert not (tmp_path / "t.h5").exists() and not (tmp_path / "cache").exists()


def test_immutable_output_refused(capsys, tmp_path):
    target = tmp_path / "t.h5"
    target.write_bytes(b"")
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not permitted here (needs CAP_LINUX_IMMUTABLE)")
    try:
        assert_bad_input(capsys, "characterize", _campaign(tmp_path), "-o", target, needle="read-only or immutable")
    finally:
        subprocess.run(["chattr", "-i", str(target)])


def test_plot_and_report_destinations(capsys, tmp_path):
    (tmp_path / "p.png").mkdir()
    assert_bad_input(capsys, "simulate", "rc-step", "--plot", tmp_path / "p.png", needle="is a directory")
    assert_bad_input(capsys, "simulate", "rc-step", "--plot", tmp_path / "nodir" / "p.png", needle="does not exist")
    assert not list(tmp_path.rglob("*.tmp*"))
    tables = _small_tables(tmp_path / "t.h5")
    existing = tmp_path / "file"
    existing.write_text("x")
    assert_bad_input(capsys, "report", "--tables", tables, "--out", existing, needle="not a directory")
    assert_bad_input(capsys, "report", "--tables", tables, "--out", "", needle="empty")


def test_run_refuses_bad_jobs_and_out(capsys, tmp_path):
    assert_bad_input(capsys, "run", "--jobs", "-1", needle="--jobs")
    assert_bad_input(capsys, "run", "--jobs", "0", needle="--jobs")
    f = tmp_path / "f"
    f.write_text("")
    assert_bad_input(capsys, "run", "--out", f, needle="not a directory")


@pytest.mark.parametrize("addr", ["not a url", "tcp://", "http://x:1:2", "tcp://h:99999", "x\n.control"])
def test_scheduler_address(capsys, tmp_path, addr):
    assert_bad_input(capsys, "characterize", _campaign(tmp_path), "-o", tmp_path / "t.h5", "--executor", "dask",
                     "--scheduler", addr, needle="--scheduler")


# ---------------------------------------------------------------------------------------------
# campaigns: size, strings, nesting, duplicates, fixed parameters, the RRAM model everywhere


def test_campaign_size_is_counted_before_planning(capsys, tmp_path):
    values = ", ".join(f"{0.05 + i * 3e-3:.4f}" for i in range(100))
    text = f"""
[campaign]
name = "huge"
[axes]
vdd = [{", ".join(f"{1.4 + i * 1e-3:.4f}" for i in range(100))}]
temperature = [{", ".join(str(float(t)) for t in range(100))}]
[operations.sense_xnor]
axes = {{ vpre = [{values}] }}
"""
    t0 = time.perf_counter()
    assert_bad_input(capsys, "characterize", _campaign(tmp_path, text), "-o", tmp_path / "t.h5",
                     needle="simulator.max_points")
    assert time.perf_counter() - t0 < 30  # refused at once, not after planning 10^6 points (generous bound)
    with pytest.raises(CampaignError, match="max_points"):
        parse_campaign(TINY.replace("[axes]", "[simulator]\nmax_points = 1\n[axes]"))
    assert len(plan(parse_campaign(TINY.replace("[axes]", "[simulator]\nmax_points = 2\n[axes]")))) == 2


@pytest.mark.parametrize("field,value", [("name", "\\u001b[2J0 failed"), ("name", "a\\u0000b"),
                                         ("description", "line\\nbreak"), ("name", "\\u009b31m")])
def test_campaign_text_without_control_characters(capsys, tmp_path, field, value):
    text = TINY.replace('name = "tiny"', f'name = "tiny"\n{field} = "{value}"' if field == "description" else
                        f'name = "{value}"')
    code, err, _ = run_main(capsys, "characterize", _campaign(tmp_path, text), "-o", tmp_path / "t.h5")
    assert code == 2 and len(err) == 1 and f"campaign.{field}" in err[0]
    assert "\x1b" not in err[0] and "\x00" not in err[0] and "\x9b" not in err[0]


def test_untrusted_text_is_escaped_on_the_terminal(capsys, tmp_path):
    """A key name with an escape sequence (not a checked string field) is printed escaped."""
    text = TINY + '\n[operations."\\u001b[2Jbad"]\n'
    code, err, _ = run_main(capsys, "characterize", _campaign(tmp_path, text), "-o", tmp_path / "t.h5")
    assert code == 2 and len(err) == 1 and "\x1b" not in err[0] and "\\x1b" in err[0]


def test_deeply_nested_toml(capsys, tmp_path):
    text = TINY + "x = " + "[" * 3000 + "]" * 3000 + "\n"
    assert_bad_input(capsys, "characterize", _campaign(tmp_path, text), "-o", tmp_path / "t.h5", needle="c.toml")


def test_duplicate_axis_values_refused():
    with pytest.raises(CampaignError, match="axes.vdd"):
        parse_campaign(TINY.replace('corner = ["nom"]', 'corner = ["nom"]\nvdd = [1.8, 1.80]'))
    with pytest.raises(CampaignError, match="r_ohm"):
        parse_campaign(TINY.replace("[1000.0, 2000.0]", "[1000.0, 1e3]"))


def test_fixed_operation_parameter_cannot_be_overridden():
    text = "[campaign]\nname='x'\n[operations.bdpe_rram]\nparams = { path = \"register\" }\n"
    with pytest.raises(CampaignError, match="operations.bdpe_rram.params.path"):
        parse_campaign(text)
    with pytest.raises(CampaignError, match="operations.bdpe_rram.axes.path"):
        parse_campaign(text.replace('params = { path = "register" }', 'axes = { path = ["rram", "register"] }'))


def test_rram_model_reaches_every_operation_with_a_cell():
    text = """
[campaign]
name = "vteam"
[rram]
model = "vteam"
parameter_set = "sky130-1t1r"
[operations.cell_read]
[operations.sense_xnor]
[operations.bdpe_rram]
[operations.program_word]
[operations.rram_set]
[operations.popcount]
[operations.inverter_chain]
"""
    campaign = parse_campaign(text)
    points = plan(campaign)
    for p in points:
        if p.op in ("popcount", "inverter_chain"):
            assert not hasattr(p.params, "model")
            continue
        assert (p.params.model, p.params.parameter_set) == ("vteam", "sky130-1t1r"), p.op
    default = plan(parse_campaign(text.replace('model = "vteam"', 'model = "stanford-pku"')))
    for a, b in zip(points, default):
        if a.op in ("cell_read", "sense_xnor", "bdpe_rram", "program_word"):
            assert a.spec.netlist() != b.spec.netlist(), a.op  # the model changed the deck
    entries = [{"status": 0, "message": "", "metrics": {}} for _ in points]
    tables = {t.name: t for t in assemble_tables(campaign, points, entries)}
    assert tables["bdpe_rram"].attrs["rram_model"] == "vteam"
    assert "rram_model" not in tables["popcount"].attrs and "rram_model" not in tables["inverter_chain"].attrs


def test_testbench_parameters_that_make_no_sense(capsys):
    assert_bad_input(capsys, "simulate", "inverter-chain", "--set", "cell=fa_1", "--dry-run", needle="cell:")
    assert_bad_input(capsys, "simulate", "inverter-chain", "--set", "cell=buf_1", "--dry-run", needle="cell:")
    assert_bad_input(capsys, "simulate", "inverter-chain", "--set", "cell=" + "x" * 300, "--dry-run", needle="cell:")
    assert_bad_input(capsys, "simulate", "bdpe-op", "--set", "parameter_set=exponential", "--dry-run",
                     needle="parameter_set:")
    code, err, _ = run_main(capsys, "simulate", "inverter-chain", "--set", "cell=inv_2", "--dry-run")
    assert code == 0, err


# ---------------------------------------------------------------------------------------------
# tables


def _small_tables(path: Path, *, latency=1e-9) -> Path:
    axes = {"corner": np.array(["tt"], dtype=object), "vdd": np.array([1.6, 1.8]), "temperature": np.array([27.0])}
    shape = (1, 2, 1)
    tables = [OperationTable(op, axes, {"corner": "-", "vdd": "V", "temperature": "degC"},
                             {"latency_s": np.full(shape, latency), "energy_J": np.full(shape, 1e-12)},
                             {"latency_s": "s", "energy_J": "J"}, {}, np.zeros(shape, np.int8),
                             np.full(shape, "", dtype=object), {}, {"word": np.full(shape, "0x00ff", dtype=object)})
              for op in ("bdpe_rram", "bdpe_register")]
    write_tables(path, tables, {"technology": "sky130"})
    return path


def _mutate(path: Path, how: str) -> None:
    with h5py.File(path, "a") as f:
        if how == "no version":
            del f.attrs["format_version"]
        elif how == "version text":
            f.attrs["format_version"] = "1"
        elif how == "version float":
            f.attrs["format_version"] = 1.5
        elif how == "no status":
            del f["bdpe_rram/status"]
        elif how == "extra group":
            f.create_group("notes").create_dataset("x", data=[1, 2, 3])
        elif how == "root dataset":
            f.create_dataset("stray", data=[1.0])
        elif how == "wrong shape":
            f["bdpe_rram"].create_dataset("bad_metric", data=np.zeros(5))


@pytest.mark.parametrize("how,needle", [("no version", "format_version is missing"),
                                        ("version text", "format_version '1' is not an integer"),
                                        ("version float", "is not an integer"), ("no status", "'bdpe_rram'"),
                                        ("extra group", "'notes'"), ("root dataset", "'stray'"),
                                        ("wrong shape", "bad_metric")])
def test_malformed_tables(capsys, tmp_path, how, needle):
    path = _small_tables(tmp_path / "t.h5")
    _mutate(path, how)
    with pytest.raises(TableError, match=re.escape(needle)):
        open_tables(path)
    assert_bad_input(capsys, "evaluate", "--network", "yolov3-tiny", "--tables", path, needle=needle)
    assert_bad_input(capsys, "report", "--tables", path, "--out", tmp_path / "rep", needle=needle)
    assert not (tmp_path / "rep").exists()


def test_nan_bdpe_metrics_refused_by_report(capsys, tmp_path):
    path = _small_tables(tmp_path / "t.h5", latency=float("nan"))
    assert_bad_input(capsys, "report", "--tables", path, "--out", tmp_path / "rep", needle="latency")
    assert not (tmp_path / "rep").exists()
    assert_bad_input(capsys, "evaluate", "--network", "yolov3-tiny", "--tables", path, needle="latency")


def test_text_metrics_round_trip(tmp_path):
    t = open_tables(_small_tables(tmp_path / "t.h5"))
    assert t.metrics("bdpe_rram") == ["energy_J", "latency_s"]
    assert list(t.texts("bdpe_rram")["word"].ravel()) == ["0x00ff", "0x00ff"]
    assert str(t.to_xarray("bdpe_rram")["word"].values[0, 0, 0]) == "0x00ff"


def test_output_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        _small_tables(tmp_path / "t.h5")
        Cache(tmp_path / "cache").put("ab" * 32, {"status": 0, "message": "", "metrics": {}})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.h5").stat().st_mode) == 0o640
    assert stat.S_IMODE(next((tmp_path / "cache").rglob("*.json")).stat().st_mode) == 0o640


# ---------------------------------------------------------------------------------------------
# honest data


def _tb(measure) -> _Testbench:
    rc = get_testbench("rc-step")
    return _Testbench(name="t", description="", params_type=rc.params_type, build=rc.build, measure=measure)


def test_measurement_errors_are_recorded_with_their_text():
    from characterize.measure import MeasurementNotFound

    ok = SimResult(label="x", ok=True, vectors={})

    def broken(p, r):
        raise TypeError("unsupported operand")

    def missing(p, r):
        raise MeasurementNotFound("no crossing of 0.9 V")

    entry = finish_point(_tb(broken), None, ok)
    assert entry["status"] == 1 and "TypeError: unsupported operand" in entry["message"]
    entry = finish_point(_tb(missing), None, ok)
    assert entry["status"] == 2 and "no crossing" in entry["message"]


def test_text_metrics_are_kept():
    entry = finish_point(_tb(lambda p, r: {"programmed": "0xdeadbeef", "correct": True, "n": 3}), None,
                         SimResult(label="x", ok=True, vectors={}))
    assert entry["texts"] == {"programmed": "0xdeadbeef"}
    assert entry["metrics"] == {"correct": 1.0, "n": 3.0}


@pytest.mark.parametrize("bad", ['{"status": 0}', '[]', '{"status": 7, "message": "", "metrics": {}}',
                                 '{"status": 0, "message": "", "metrics": {"x": "oops"}}', "not json",
                                 '{"status": true, "message": "", "metrics": {}}'])
def test_bad_cache_entries_are_not_trusted(tmp_path, bad):
    cache = Cache(tmp_path)
    key = "cd" * 32
    cache.put(key, {"status": 0, "message": "", "metrics": {"x": 1.0}})
    assert cache.get(key) == {"status": 0, "message": "", "metrics": {"x": 1.0}}
    next(tmp_path.rglob("*.json")).write_text(bad)
    assert cache.get(key) is None


# ---------------------------------------------------------------------------------------------
# facts in the code


def test_reference_resistance_defined_once():
    tree = ast.parse((ROOT / "circuits" / "bdpe.py").read_text())
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert names.count("reference_resistance") == 1


def test_sky130_parameter_set_source_matches_its_values():
    """The source text of stanford-pku/sky130-1t1r states R_on, the window and the overrides; check
    them against the model's own I-V at 0.2 V and the set's values."""
    from rram_models import get_model

    m = get_model("stanford-pku")
    ps = m.parameter_sets["sky130-1t1r"]
    params = m.resolve("sky130-1t1r")
    r_on, r_off = sorted(m.r_on_off(0.2, params))
    text = ps.source
    k_on = float(re.search(r"R_on ~ ([\d.]+) kOhm", text).group(1))
    window = float(re.search(r"R_off/R_on at 0.2 V ~ ([\d.]+)", text).group(1))
    assert abs(r_on / 1e3 - k_on) / k_on < 0.05, (r_on, text)
    assert abs(r_off / r_on - window) / window < 0.05, (r_off / r_on, text)
    for key, value in ps.values.items():
        assert re.search(rf"{key} = ", text), f"{key} is overridden but the source text does not say so"


# ---------------------------------------------------------------------------------------------
# real processes: disk full and Ctrl-C


def _bdpe_proc(args, cwd, *, fsize=None, **kw):
    def pre():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return subprocess.Popen(BDPE + [str(a) for a in args], cwd=cwd, preexec_fn=pre, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.ngspice
def test_write_failure_after_the_campaign(tmp_path):
    """``ulimit -f`` below the table size: one line, exit 1, no partial file, the points stay cached
    (it used to die with SIGSEGV inside the HDF5 library's close)."""
    toml = _campaign(tmp_path)
    out, cache = tmp_path / "t.h5", tmp_path / "cache"
    proc = _bdpe_proc(["characterize", toml, "-o", out, "--cache", cache, "--jobs", "1", "--no-progress"],
                      tmp_path, fsize=8 * 1024)
    _, err = proc.communicate(timeout=300)
    lines = [line for line in err.strip().splitlines() if line.startswith("bdpe")]
    assert proc.returncode == 1, err
    assert "Traceback" not in err and any("cannot write" in line and "cache" in line for line in lines), err
    assert not out.exists() and not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".t.h5*"))
    assert len(list(cache.rglob("*.json"))) == 2
    r = subprocess.run(BDPE + ["characterize", str(toml), "-o", str(out), "--cache", str(cache), "--no-progress"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0 and "0 simulated, 2 cached" in r.stderr, r.stderr


@pytest.mark.ngspice
def test_ctrl_c_exits_130_quickly_and_resumes(tmp_path):
    """SIGINT to the process group of a running campaign (as a terminal's Ctrl-C does): the smoke
    campaign plus a 64-input popcount point that takes seconds, so the campaign is still running
    when the first point is cached (the smoke campaign alone now finishes in ~3 s)."""
    toml = tmp_path / "slow_smoke.toml"
    toml.write_text((ROOT / "campaigns" / "smoke.toml").read_text()
                    + "\n[operations.popcount]\nparams = { vectors = 8, t_vector = 5e-9 }\n")
    out, cache = tmp_path / "t.h5", tmp_path / "cache"
    args = ["characterize", toml, "-o", out, "--cache", cache, "--jobs", "2", "--no-progress"]
    proc = _bdpe_proc(args, tmp_path)
    deadline = time.time() + 600
    while time.time() < deadline and not list(cache.rglob("*.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=60)
    elapsed = time.monotonic() - t0
    done = len(list(cache.rglob("*.json")))
    assert proc.returncode == 130, err
    assert elapsed < 3.0, elapsed
    assert err.strip().splitlines()[-1] == "bdpe: interrupted"
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert not out.exists() and not list(tmp_path.rglob("*.tmp")), list(tmp_path.rglob("*"))
    leftover = ["?"]
    for _ in range(30):  # the group empties once the kernel has reaped the killed workers
        leftover = subprocess.run(["pgrep", "-a", "-g", str(proc.pid)], capture_output=True, text=True).stdout
        if not leftover.strip():
            break
        time.sleep(0.1)
    assert not leftover.strip(), f"processes left behind: {leftover}"
    r = subprocess.run(BDPE + [str(a) for a in args], capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr
    m = re.search(r"(\d+) simulated, (\d+) cached", r.stderr)
    assert m and int(m.group(2)) >= done and int(m.group(1)) + int(m.group(2)) == 15, r.stderr


# ---------------------------------------------------------------------------------------------
# found by a cold review (a second pair of eyes trying the commands as a new user)


@pytest.mark.parametrize("axis,values", [("stored", '[255, "0xff"]'), ("stored", '["0xff", "0xFF"]'),
                                         ("stored", '["0xff", "255"]')])
def test_axis_values_compared_in_canonical_form(axis, values):
    text = f"[campaign]\nname='x'\n[operations.bdpe_rram]\naxes = {{ {axis} = {values} }}\n"
    with pytest.raises(CampaignError, match="appears twice"):
        parse_campaign(text)


@pytest.mark.parametrize("values", ['[1, "1"]', '[1, "0x1"]'])
def test_integer_axis_values_canonical(values):
    with pytest.raises(CampaignError, match="appears twice"):
        parse_campaign(f"[campaign]\nname='x'\n[operations.popcount]\naxes = {{ seed = {values} }}\n")
    with pytest.raises(CampaignError, match="t_vector"):
        parse_campaign("[campaign]\nname='x'\n[operations.popcount]\naxes = { t_vector = [3e-9, \"3e-9\"] }\n")


def test_float_for_an_integer_and_tiny_timeout_refused():
    with pytest.raises(CampaignError, match="seed"):
        plan(parse_campaign("[campaign]\nname='x'\n[operations.popcount]\nparams = { seed = 1e3 }\n"))
    with pytest.raises(CampaignError, match="timeout_s"):
        parse_campaign(TINY.replace("[axes]", "[simulator]\ntimeout_s = 1e-300\n[axes]"))


@pytest.mark.parametrize("args,needle", [
    (["evaluate", "--network", "yolov3-tiny", "--rram-words", "٢"], "--rram-words"),
    (["evaluate", "--network", "yolov3-tiny", "--rram-words", "0128"], "--rram-words"),
    (["evaluate", "--network", "yolov3-tiny", "--rram-words", "1_000"], "--rram-words"),
    (["evaluate", "--network", "yolov3-tiny", "--rram-words", str(10**32)], "--rram-words"),
    (["evaluate", "--network", "yolov3-tiny", "--rram-usage", "０.５"], "--rram-usage"),
    (["evaluate", "--network", "yolov3-tiny", "--vdd", " 1.8"], "--vdd"),
    (["run", "--jobs", "02"], "--jobs"),
    (["simulate", "rc-step", "--set", "v_step=0", "--dry-run"], "v_step"),
    (["simulate", "rc-step", "--set", "rise_s=1", "--dry-run"], "rise_s"),
    (["simulate", "program-word", "--set", "cols=8", "--set", "word=0xfff", "--dry-run"], "word"),
    (["simulate", "--list", "nosuch"], "--list"),
    (["simulate", "--list", "--set", "vdd=abc"], "--list"),
])
def test_review_options(capsys, args, needle):
    assert_bad_input(capsys, *args, needle=needle)


def test_long_file_names_name_the_option(capsys, tmp_path):
    long = "a" * 300
    assert_bad_input(capsys, "simulate", "rc-step", "--dry-run", "--plot", long + ".png", needle="--plot")
    assert_bad_input(capsys, "characterize", _campaign(tmp_path), "-o", long + ".h5", needle="-o")
    assert_bad_input(capsys, "evaluate", "--network", "yolov3-tiny", "--tables", long + ".h5", needle="--tables")
    assert_bad_input(capsys, "characterize", long + ".toml", "-o", tmp_path / "t.h5", needle="CAMPAIGN")
    assert_bad_input(capsys, "evaluate", "--network", "yolov3-tiny", "--tables", tmp_path, needle="is a directory")


def test_list_as_json(capsys):
    code, err, out = run_main(capsys, "simulate", "--list", "--json")
    assert code == 0, err
    listing = json.loads(out)
    assert "bdpe-op" in listing and any(p["name"] == "stored" for p in listing["bdpe-op"]["params"])


def test_cache_environment_checked_before_work(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("BDPE_CACHE", "/proc/x")
    assert_bad_input(capsys, "run", "--out", tmp_path / "out", needle="BDPE_CACHE")
    assert not (tmp_path / "out").exists()
    assert_bad_input(capsys, "characterize", _campaign(tmp_path), "-o", tmp_path / "t.h5", needle="BDPE_CACHE")
    monkeypatch.setenv("BDPE_CACHE", "")  # empty = unset: the default .bdpe-cache
    monkeypatch.chdir(tmp_path)
    code, err, _ = run_main(capsys, "characterize", _campaign(tmp_path), "-o", tmp_path / "t.h5", "--dry-run")
    assert code == 0, err


def test_table_text_is_escaped_on_stdout(capsys, tmp_path):
    path = _small_tables(tmp_path / "t.h5")
    with h5py.File(path, "a") as f:
        f.attrs["campaign_sha256"] = "\x1b[31mred"
    code, err, out = run_main(capsys, "evaluate", "--network", "finn-tfc", "--tables", path)
    assert code == 0, err
    assert "\x1b" not in out and "\\x1b" in out


def test_nan_axis_refused(tmp_path):
    path = _small_tables(tmp_path / "t.h5")
    with h5py.File(path, "a") as f:
        f["bdpe_rram/vdd"][0] = np.nan
    with pytest.raises(TableError, match="non-finite"):
        open_tables(path)


def test_broken_pipe_is_quiet(tmp_path):
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; {sys.executable} -m bdpe.cli simulate --list | head -c 10"
                           " >/dev/null; echo ${PIPESTATUS[0]}"], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() in ("0", "141") and "Error" not in proc.stderr and "Traceback" not in proc.stderr, proc


def test_table_without_axes_round_trips(tmp_path):
    """An operation with no axes (rram_iv in the default campaign) has 0-d datasets; h5py returns
    a 0-d string as bare bytes (the reader once failed on it after a whole `make run`)."""
    table = OperationTable("rram_iv", {}, {}, {"r_on_ohm": np.array(37e3)}, {"r_on_ohm": "ohm"}, {},
                           np.array(0, dtype=np.int8), np.array("", dtype=object), {},
                           {"note": np.array("ok", dtype=object)})
    write_tables(tmp_path / "t.h5", [table], {})
    t = open_tables(tmp_path / "t.h5")
    assert t.lookup("rram_iv", "r_on_ohm") == 37e3
    assert t.table("rram_iv").message.shape == () and str(t.texts("rram_iv")["note"]) == "ok"


def test_cached_failures_are_retried_with_more_effort(tmp_path):
    """A point that failed (status 1, e.g. a timeout) is cached with the timeout and retries it got;
    a run that allows more time or more retries simulates it again, one that allows the same does not."""
    from characterize.execute import _Recorder

    cache = Cache(tmp_path)
    cache.put("aa" * 32, {"status": 1, "message": "timeout", "metrics": {}, "effort": [4.0, 1]})
    cache.put("bb" * 32, {"status": 0, "message": "", "metrics": {"x": 1.0}, "effort": [4.0, 1]})
    keys = ["aa" * 32, "bb" * 32]
    assert _Recorder([None, None], keys, cache, False, None, effort=(4.0, 1)).missing() == []
    assert _Recorder([None, None], keys, cache, False, None, effort=(8.0, 1)).missing() == [0]
    assert _Recorder([None, None], keys, cache, False, None, effort=(4.0, 2)).missing() == [0]
    assert _Recorder([None, None], keys, cache, False, None, effort=(1.0, 0)).missing() == []


def test_a_single_valued_option_given_twice_is_refused(capsys, tmp_path):
    """argparse keeps the last of a repeated option silently; a user who repeats --tables (as
    `bdpe report` allows) must hear that evaluate and accuracy take one file."""
    assert_bad_input(capsys, "evaluate", "--network", "yolov3-tiny", "--tables", "a.h5", "--tables", "b.h5",
                     needle="--tables given twice ('a.h5' and 'b.h5')")
    assert_bad_input(capsys, "accuracy", "--network", "digits-bnn", "--tables", "a.h5", "--tables", "b.h5",
                     needle="--tables given twice")
    assert_bad_input(capsys, "report", "--tables", "a.h5", "--tables", "./a.h5", "--out", tmp_path / "r",
                     needle="the same file as 'a.h5'")
    assert not (tmp_path / "r").exists()
