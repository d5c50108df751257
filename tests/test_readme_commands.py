"""Every ``$ bdpe ...`` / ``$ .venv/bin/bdpe ...`` line of README.md, executed as a user types it.

The lines are read from the README itself and run through bash (so ``$'...'`` quoting and trailing
comments behave as in a terminal) in a scratch directory that holds ``.venv`` and ``campaigns``
of this checkout. Each line must have an entry in :data:`CHECKS`, and every entry must still be in
the README: a new documented command without a test fails here.

One line cannot run here as written: the campaign on a Dask cluster (``tcp://127.0.0.1:8786``, started
by the README's ``dask`` lines); it runs as written plus ``--dry-run`` (parse, validate the campaign,
the paths and the scheduler address, plan every point), and tests/test_dask_cluster.py runs the same
commands against a real cluster. Every other line runs exactly as written.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import re
import subprocess
from pathlib import Path

import pytest

from campaign_texts import report_cache_dir

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def readme_commands() -> list[str]:
    lines = []
    for line in README.read_text().splitlines():
        if line.startswith("$ ") and re.match(r"\$ (\.venv/bin/)?bdpe\b", line):
            lines.append(line[2:].strip())
    return lines


def _strip_comment(cmd: str) -> str:
    return re.sub(r"\s+#.*$", "", cmd) if "$'" not in cmd else cmd


@pytest.fixture
def workdir(tmp_path):
    d = tmp_path
    (d / ".venv").symlink_to(ROOT / ".venv")
    (d / "campaigns").symlink_to(ROOT / "campaigns")
    return d


def sh(cmd: str, cwd: Path, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "BDPE_CACHE": str(cwd / ".bdpe-cache")}
    if not (cwd / ".venv" / "bin" / "bdpe").exists():  # pragma: no cover - make setup creates it
        pytest.fail(".venv/bin/bdpe is missing: run make setup")
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


def _json(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _readme_block_after(cmd_fragment: str) -> list[str]:
    """The lines the README shows right after the command containing ``cmd_fragment``."""
    lines = README.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("$ ") and cmd_fragment in line)
    out = []
    for line in lines[i + 1:]:
        if line.startswith("```") or line.startswith("$ "):
            break
        out.append(line)
    return out


# --- checks: each gets the scratch dir and the command as written (comment stripped) -----------


def check_inverter_chain(cmd, cwd):
    data = _json(sh(cmd, cwd))
    assert data["operation"] == "inverter-chain"
    assert data["params"]["vdd"] == 1.6 and data["params"]["corner"] == "ff" and data["params"]["temperature_C"] == 85
    assert 1e-12 < data["delay_s"] < 1e-9 and data["units"]["delay_s"] == "s"
    for key in ("delay_rise_s", "delay_fall_s", "energy_per_cycle_J", "leakage_power_W", "analysis_time_s", "notes"):
        assert key in data


def check_injection(cmd, cwd):
    proc = sh(cmd, cwd)
    shown = next(line for line in _readme_block_after("vdd=1.8\\n.control") if line.startswith("bdpe: error"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == shown.split("  #")[0].strip()


def check_evaluate(cmd, cwd):
    proc = sh(cmd, cwd)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    shown = [line for line in _readme_block_after("--published-dotp --rram-words 128") if "..." not in line]
    assert shown, "the README shows the evaluate output"
    for line in shown:  # every full line the README shows is printed exactly
        assert line in out, f"README line not printed: {line!r}"
    for line in _readme_block_after("--published-dotp --rram-words 128"):  # lines elided with '...'
        head = line.split("...")[0]
        assert any(o.startswith(head) for o in out), line


def check_refusal(cmd, cwd):
    """A bad-input line exactly as the README shows it: exit 2, nothing on stdout, that one line."""
    proc = sh(cmd, cwd)
    shown = _readme_block_after(cmd)[0].split("  #")[0].strip()
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr.strip() == shown


def check_fo4(cmd, cwd):
    data = _json(sh(cmd, cwd))
    shown = float(re.search(r"fo4_delay_s ([0-9.e-]+)", [c for c in README.read_text().splitlines()
                                                         if "simulate fo4 --set technology=freepdk45" in c][0]).group(1))
    assert data["params"]["technology"] == "freepdk45" and abs(data["fo4_delay_s"] - shown) / shown < 0.05
    assert 10e-12 < data["fo4_delay_s"] < 20e-12       # 14.4 ps: Nangate45 INV_X1-like sizes at 1.1 V (architecture.md)


def check_rram_set(cmd, cwd):
    data = _json(sh(cmd, cwd))
    shown = float(re.search(r"switching_time_s ([0-9.e-]+)", [c for c in README.read_text().splitlines()
                                                              if "rram-set --set amplitude_V=0.9" in c][0]).group(1))
    assert abs(data["switching_time_s"] - shown) / shown < 0.05, (data["switching_time_s"], shown)


def _bdpe_op(cmd, cwd):
    data = _json(sh(cmd, cwd))
    expected = bin(~(0x0123456789ABCDEF ^ 0xFFFF0000FFFF0000) & (2**64 - 1)).count("1")
    assert expected == 24
    assert data["result"] == data["expected"] == expected and data["correct"] is True, data
    return data


def check_bdpe_op_rram(cmd, cwd):
    data = _bdpe_op(cmd, cwd)
    shown = " ".join(_readme_block_after("simulate bdpe-op --set stored="))
    lat = float(re.search(r'"latency_s": ([0-9.e+-]+)', shown).group(1))
    energy = float(re.search(r'"energy_J": ([0-9.e+-]+)', shown).group(1))
    assert abs(data["latency_s"] - lat) / lat < 0.05 and abs(data["energy_J"] - energy) / energy < 0.05, data


def check_bdpe_op_register(cmd, cwd):
    data = _bdpe_op(cmd, cwd)
    assert data["params"]["path"] == "register" and 0 < data["latency_s"] < 5e-9


def check_sense_xnor(cmd, cwd):
    data = _json(sh(cmd, cwd))
    assert data["params"]["corner"] == "ss" and data["params"]["window"] == 20
    assert data["correct"] == 1.0 and data["sense_margin_V"] > 0
    assert abs(data["r_off_ohm"] / data["r_on_ohm"] - 20) < 1e-6 * 20


def check_program_word(cmd, cwd):
    data = _json(sh(cmd, cwd))  # ~45 s: 64 cells switched by the write drivers, read back
    assert data["params"]["word"] == "0xdeadbeefcafef00d"
    assert data["programmed"] == "0xdeadbeefcafef00d" and data["correct"] is True, data
    assert data["cells_switched"] == 64 and 0 < data["latency_s"] < 50e-9


def check_characterize_smoke(cmd, cwd):
    first = sh(cmd, cwd)
    assert first.returncode == 0, first.stderr
    assert "13 points" in first.stderr and (cwd / "t.h5").is_file()
    again = sh(cmd, cwd)
    assert again.returncode == 0 and "0 simulated, 13 cached" in again.stderr, again.stderr


def check_characterize_help(cmd, cwd):
    proc = sh(cmd, cwd)
    assert proc.returncode == 0 and "[simulator]" in proc.stdout and "max_points" in proc.stdout


@functools.lru_cache(maxsize=1)
def _bdpe_tables() -> Path:
    """Both BDPE operations at tt/1.8 V/27 C, simulated once per session."""
    d = Path(tempfile.mkdtemp(prefix="readme-bdpe-"))
    # the cache the conftest fixture ``report_tables`` fills: the points are simulated once per session
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "bdpe"), "characterize", str(ROOT / "tests" / "data" / "report.toml"),
                        "-o", str(d / "tables.h5"), "--cache", str(report_cache_dir()), "--no-progress"],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr
    return d / "tables.h5"


def _export(cmd, cwd) -> list[str]:
    (cwd / "out").mkdir(exist_ok=True)
    shutil.copy(_bdpe_tables(), cwd / "out" / "tables-sky130.h5")
    proc = sh(cmd, cwd)
    assert proc.returncode == 0, proc.stderr
    shown = [line for line in _readme_block_after(cmd.split(" --tables")[0] + " --tables") if line.strip()]
    assert proc.stdout.splitlines() == shown, (proc.stdout, shown)  # the files the README lists, in order
    return shown


def check_export_liberty(cmd, cwd):
    (lib,) = _export(cmd, cwd)
    text = (cwd / lib).read_text()
    assert "library (bdpe_tt_1p80v_27c)" in text and "cell (bdpe)" in text and 'time_unit : "1ns";' in text
    if shutil.which("yosys"):  # the README's next line
        r = subprocess.run(["yosys", "-p", f"read_liberty -lib {lib}"], cwd=cwd, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "Imported 1 cell types from liberty file." in r.stdout, r.stdout[-2000:]


def check_export_accelergy(cmd, cwd):
    import yaml

    ert, art = _export(cmd, cwd)
    names = [a["name"] for a in yaml.safe_load((cwd / ert).read_text())["ERT"]["tables"][0]["actions"]]
    assert names == ["rram_path_op", "register_path_op", "idle"]
    assert yaml.safe_load((cwd / art).read_text())["ART"]["tables"][0]["name"] == "bdpe"


def check_dask_campaign(cmd, cwd):
    proc = sh(cmd + " --dry-run", cwd)
    assert proc.returncode == 0, proc.stderr
    assert "13 points" in proc.stderr and "executor dask" in proc.stderr and not (cwd / "t.h5").exists()


def check_accuracy_text(cmd, cwd):
    proc = sh(cmd, cwd)
    assert proc.returncode == 0, proc.stderr
    shown = [line for line in _readme_block_after("accuracy --network digits-bnn --ber 0.05 --seeds 5") if line]
    assert proc.stdout.splitlines() == shown  # deterministic: the README shows the output exactly


def check_accuracy_json(cmd, cwd):
    data = _json(sh(cmd, cwd))
    shown = json.loads("\n".join(_readme_block_after("--mode transient --rram-words 768")))
    assert data == shown
    assert data["clean_accuracy"] >= 0.88 and data["float_reference_accuracy"] - data["clean_accuracy"] <= 0.06


def check_accuracy_bad_ber(cmd, cwd):
    proc = sh(cmd, cwd)
    shown = next(line for line in _readme_block_after("accuracy --network digits-bnn --ber 1.5")
                 if line.startswith("bdpe: error"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == shown.split("  #")[0].strip()



def check_cell_arc(cmd, cwd):
    data = _json(sh(cmd, cwd))
    assert data["operation"] == "cell-arc" and data["params"]["parasitics"] == "estimated"
    for key in ("delay_rise_s", "delay_fall_s", "transition_rise_s", "transition_fall_s"):
        assert 1e-12 < data[key] < 1e-9, key


def check_cell_arc_layout(cmd, cwd):
    """buf_8 at 10 ps / 232 fF with the layout model, against its Liberty table (facts sheet:
    cell_rise 317.4 ps, cell_fall 221.8 ps); the estimated model is 15 % fast there."""
    data = _json(sh(cmd, cwd))
    assert data["params"]["parasitics"] == "layout" and data["params"]["cell"] == "buf_8"
    assert data["delay_rise_s"] == pytest.approx(317.4e-12, rel=0.06)
    assert data["delay_fall_s"] == pytest.approx(221.8e-12, rel=0.06)


def check_cell_arc_sense(cmd, cwd):
    proc = sh(cmd, cwd)
    assert proc.returncode == 0, proc.stderr
    assert "worst_state_rise" in proc.stdout and "delay_rise_s" in proc.stdout


def check_cell_leakage(cmd, cwd):
    proc = sh(cmd, cwd)
    assert proc.returncode == 0, proc.stderr
    assert "leakage_mean_W" in proc.stdout and "leakage_A1_B1_W" in proc.stdout


CHECKS = {
    ".venv/bin/bdpe accuracy --network digits-bnn --ber 0.05 --seeds 5": check_accuracy_text,
    ".venv/bin/bdpe accuracy --network digits-bnn --ber 0.1 --mode transient --rram-words 768 --seeds 3 --json":
        check_accuracy_json,
    ".venv/bin/bdpe accuracy --network digits-bnn --ber 1.5": check_accuracy_bad_ber,
    ".venv/bin/bdpe simulate inverter-chain --set vdd=1.6 --set corner=ff --set temperature_C=85 --json":
        check_inverter_chain,
    ".venv/bin/bdpe simulate inverter-chain --set $'vdd=1.8\\n.control'": check_injection,
    ".venv/bin/bdpe evaluate --network yolov3-tiny --platform paper-a53 --published-dotp --rram-words 128":
        check_evaluate,
    ".venv/bin/bdpe simulate rram-set --set amplitude_V=0.9 --set width_s=5e-8 --json": check_rram_set,
    ".venv/bin/bdpe simulate bdpe-op --set stored=0x0123456789abcdef --set input=0xffff0000ffff0000 --json":
        check_bdpe_op_rram,
    ".venv/bin/bdpe simulate bdpe-op --set path=register --set stored=0x0123456789abcdef "
    "--set input=0xffff0000ffff0000 --json": check_bdpe_op_register,
    ".venv/bin/bdpe simulate sense-xnor --set corner=ss --set window=20 --json": check_sense_xnor,
    ".venv/bin/bdpe simulate program-word --set word=0xdeadbeefcafef00d --json": check_program_word,
    ".venv/bin/bdpe characterize campaigns/smoke.toml -o t.h5": check_characterize_smoke,
    ".venv/bin/bdpe characterize --help": check_characterize_help,
    ".venv/bin/bdpe simulate cell-arc --set cell=fa_1 --set pin=A --set output=COUT --set slew_s=5.3e-11 "
    "--set load_F=3.4e-15 --json": check_cell_arc,
    ".venv/bin/bdpe simulate cell-arc --set cell=fa_1 --set pin=A --set output=SUM --set sense=negative":
        check_cell_arc_sense,
    ".venv/bin/bdpe simulate cell-leakage --set cell=nand2_1": check_cell_leakage,
    ".venv/bin/bdpe simulate cell-arc --set cell=buf_8 --set pin=A --set slew_s=1e-11 --set load_F=2.32e-13 "
    "--set parasitics=layout --json": check_cell_arc_layout,
    ".venv/bin/bdpe characterize campaigns/smoke.toml -o t.h5 --executor dask --scheduler tcp://127.0.0.1:8786":
        check_dask_campaign,
    ".venv/bin/bdpe simulate popcount --set parasitics=bogus": check_refusal,
    ".venv/bin/bdpe simulate bdpe-op --set technology=freepdk45 --set corner=sf": check_refusal,
    ".venv/bin/bdpe simulate bdpe-op --set technology=freepdk45 --set vdd=1.8": check_refusal,
    ".venv/bin/bdpe simulate fo4 --set technology=freepdk45 --json": check_fo4,
    ".venv/bin/bdpe export liberty --tables out/tables-sky130.h5 --corner tt --vdd 1.8 --temp 27 -o out/liberty":
        check_export_liberty,
    ".venv/bin/bdpe export accelergy --tables out/tables-sky130.h5 --corner tt --vdd 1.8 --temp 27 -o out/accelergy":
        check_export_accelergy,
}


def test_every_readme_command_has_a_check():
    written = {_strip_comment(c) for c in readme_commands()}
    assert written, "no bdpe commands found in README.md"
    assert written == set(CHECKS), (written ^ set(CHECKS))


@pytest.mark.ngspice
@pytest.mark.parametrize("cmd", list(CHECKS))
def test_readme_command(cmd, workdir):
    CHECKS[cmd](cmd, workdir)
