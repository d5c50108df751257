"""``bdpe export liberty|accelergy``, read back by their consumers.

* Liberty: Yosys reads every library (``yosys -p 'read_liberty -lib FILE'``) and sees the ``bdpe``
  cell with its buses; an independent Liberty parser (PyPI ``liberty-parser``) reads the numbers
  back and they equal the table values (in the library's units) at that operating point.
* Accelergy: every ERT/ART file loads with PyYAML, validates against the JSON Schema of the format
  (bdpe.accelergy.ert_schema / art_schema) and its energies equal the table values in pJ; every
  value line names its table and operating point.
* Bad input: one line on stderr, exit code 2, nothing written.

Most tests use small synthetic table files (random values: every digit must survive the round
trip); one test exports real tables (two whole-engine points, the session's ``report_tables``).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bdpe.cli import main
from characterize.tables import OperationTable, open_tables, write_tables
from external_tools import require

UNITS = {"latency_s": "s", "energy_J": "J", "correct": "-", "leakage_power_W": "W", "energy_vdd_J": "J"}


def _table(name, axes, metrics, status=None, fixed=None):
    shape = tuple(len(v) for v in axes.values())
    return OperationTable(name=name, axes=axes, axis_units={a: {"vdd": "V", "temperature": "degC"}.get(a, "-") for a in axes},
                          metrics=metrics, metric_units={m: UNITS[m] for m in metrics},
                          metric_descriptions={m: m for m in metrics},
                          status=np.zeros(shape, np.int8) if status is None else status,
                          message=np.full(shape, "", dtype=object), attrs={"fixed_parameters": json.dumps(fixed or {})})


def synthetic_tables(path: Path, *, corners=("tt", "ss"), vdds=(1.6, 1.8), program_corners=("tt",), leakage=False,
                     failed=None, ops=("bdpe_rram", "bdpe_register")) -> Path:
    """A table file shaped like a campaign's (corner x vdd x temperature) with random values."""
    rng = np.random.default_rng(2019)
    tables = []
    for op in ops + (("program_word",) if program_corners else ()):
        axes = {"corner": np.array(program_corners if op == "program_word" else corners, dtype=object),
                "vdd": np.array(vdds, dtype=float), "temperature": np.array([27.0])}
        shape = tuple(len(v) for v in axes.values())
        metrics = {"latency_s": rng.uniform(1e-9, 9e-9, shape), "energy_J": rng.uniform(1e-12, 3e-11, shape),
                   "correct": np.ones(shape)}
        if leakage and op != "program_word":
            metrics["leakage_power_W"] = rng.uniform(1e-9, 1e-6, shape)
        status = np.zeros(shape, np.int8)
        if failed == op:
            status[0, 0, 0] = 1
            metrics["latency_s"][0, 0, 0] = np.nan
        tables.append(_table(op, axes, metrics, status, {"path": op.split("_")[1]} if op.startswith("bdpe") else {}))
    write_tables(path, tables, {"technology": "sky130", "campaign_name": "synthetic", "campaign_sha256": "ab" * 32,
                                "created_utc": "2026-01-01T00:00:00+00:00", "generator": "tests", "ngspice_version": "39"})
    return path


def run(capsys, *argv) -> tuple[int, list[str], list[str]]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines(), captured.out.strip().splitlines()


def value_at(tables_path, op, metric, corner, vdd):
    return open_tables(tables_path).lookup(op, metric, corner=corner, vdd=vdd, temperature=27.0)


def _point_of(name: str) -> tuple[str, float]:
    m = re.fullmatch(r"bdpe_([a-z]+)_(\d+)p(\d+)v_27c\.(lib|ERT\.yaml|ART\.yaml)", name)
    assert m, name
    return m.group(1), float(f"{m.group(2)}.{m.group(3)}")


def _scalar(group, name) -> float:
    values = group.get_group(name).get_array("values")
    assert values.shape == (1, 1)
    return float(values[0, 0])


def check_with_yosys(lib: Path) -> None:
    """Yosys reads the library as the brief's command line does and sees the cell with its buses."""
    yosys = require("yosys", "apt-get install yosys")
    r = subprocess.run([yosys, "-p", f"read_liberty -lib {lib}"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert "Imported 1 cell types from liberty file." in r.stdout
    assert not re.search(r"(?i)\b(error|warning)\b", r.stdout + r.stderr), r.stdout[-2000:]
    verilog = lib.with_suffix(".blackbox.v")
    r = subprocess.run([yosys, "-q", "-p", f"read_liberty -lib {lib}; write_verilog -blackboxes {verilog}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text = verilog.read_text()
    verilog.unlink()
    assert re.search(r"module bdpe\(", text), text
    for decl in ("input [127:0] wl_en;", "input [63:0] stored_word;", "input [63:0] input_word;",
                 "output [6:0] result;", "input sel;", "input pre;", "input sae;", "input prog_en;"):
        assert decl in text, (decl, text)


def check_liberty_values(lib: Path, tables_path: Path) -> None:
    """The numbers of ``lib``, read back by liberty-parser, equal the tables' at the library's point."""
    from liberty.parser import parse_liberty

    from bdpe.liberty import ENERGY_SCALE, LEAKAGE_SCALE, TIME_SCALE
    from circuits.bdpe import BDPEParams, area_estimate
    from circuits.technology import sky130

    corner, vdd = _point_of(lib.name)
    t = lambda op, metric: value_at(tables_path, op, metric, corner, vdd)  # noqa: E731
    parsed = parse_liberty(lib.read_text())
    assert str(parsed["time_unit"]) == '"1ns"' and parsed["capacitive_load_unit"] == [1, "pf"]
    assert str(parsed["leakage_power_unit"]) == '"1nW"'
    assert parsed.get_group("operating_conditions", f"{corner}_{lib.name.split('_')[2]}_27c")["voltage"] == vdd
    assert parsed["nom_voltage"] == vdd and parsed["nom_temperature"] == 27.0
    cell = parsed.get_group("cell", "bdpe")
    assert cell["area"] == area_estimate(BDPEParams(), sky130())["total_um2"]
    arcs = {str(a["related_bus_pins"]).strip('"'): a for a in cell.get_group("bus", "result").get_groups("timing")}
    assert set(arcs) == {"wl_en", "input_word stored_word"}
    for related, op in (("wl_en", "bdpe_rram"), ("input_word stored_word", "bdpe_register")):
        assert _scalar(arcs[related], "cell_rise") == _scalar(arcs[related], "cell_fall") == t(op, "latency_s") * TIME_SCALE
    rram_power = cell.get_group("bus", "wl_en").get_groups("internal_power")[0]
    assert _scalar(rram_power, "rise_power") == t("bdpe_rram", "energy_J") * ENERGY_SCALE
    assert _scalar(rram_power, "fall_power") == 0.0
    reg_power = cell.get_group("bus", "input_word").get_groups("internal_power")[0]
    # per toggling bit: the table's stimulus toggles all 64 input bits once per operation
    assert _scalar(reg_power, "rise_power") == _scalar(reg_power, "fall_power")
    assert _scalar(reg_power, "rise_power") * 64 == pytest.approx(t("bdpe_register", "energy_J") * ENERGY_SCALE, rel=1e-12)
    tables = open_tables(tables_path)
    if "leakage_power_W" in tables.metrics("bdpe_rram"):
        assert cell["cell_leakage_power"] == t("bdpe_rram", "leakage_power_W") * LEAKAGE_SCALE
    else:
        assert cell["cell_leakage_power"] == 0.0
        assert "0 is a placeholder, not a measurement" in lib.read_text()
    program = cell.get_group("pin", "prog_en").get_groups("internal_power")
    if "program_word" in tables.operations and corner in tables.axes("program_word")["corner"]:
        assert _scalar(program[0], "rise_power") == t("program_word", "energy_J") * ENERGY_SCALE
    else:
        assert not program and "prog_en: no internal power" in lib.read_text()


def test_liberty_every_point_read_by_yosys_and_a_liberty_parser(tmp_path, capsys):
    tables = synthetic_tables(tmp_path / "t.h5")
    code, err, out = run(capsys, "export", "liberty", "--tables", tables, "--all", "-o", tmp_path / "lib")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "lib").iterdir())
    assert names == sorted(f"bdpe_{c}_1p{v}0v_27c.lib" for c in ("tt", "ss") for v in (6, 8))
    assert sorted(Path(line).name for line in out) == names and err == ["bdpe export liberty: wrote 4 files to " + str(tmp_path / "lib")]
    for name in names:
        lib = tmp_path / "lib" / name
        check_with_yosys(lib)
        check_liberty_values(lib, tables)
        assert "tables: t.h5" in lib.read_text() and "@ " + _point_of(name)[0] in lib.read_text()


def test_liberty_leakage_when_the_tables_hold_it(tmp_path, capsys):
    tables = synthetic_tables(tmp_path / "t.h5", leakage=True, program_corners=())
    code, err, _ = run(capsys, "export", "liberty", "--tables", tables, "--corner", "ss", "--vdd", "1.6", "-o", tmp_path / "o")
    assert code == 0, err
    (lib,) = (tmp_path / "o").iterdir()
    assert lib.name == "bdpe_ss_1p60v_27c.lib"
    check_liberty_values(lib, tables)
    assert "placeholder" not in lib.read_text()
    import yaml

    code, err, _ = run(capsys, "export", "accelergy", "--tables", tables, "--corner", "ss", "--vdd", "1.6", "-o", tmp_path / "a")
    assert code == 0, err
    actions = yaml.safe_load((tmp_path / "a" / "bdpe_ss_1p60v_27c.ERT.yaml").read_text())["ERT"]["tables"][0]["actions"]
    idle = next(a["energy"] for a in actions if a["name"] == "idle")  # leakage over one RRAM-path operation, pJ
    leak, latency = (value_at(tables, "bdpe_rram", m, "ss", 1.6) for m in ("leakage_power_W", "latency_s"))
    assert idle == leak * latency * 1e12


def _yaml_checks(path: Path, schema: dict) -> dict:
    import jsonschema
    import yaml

    data = yaml.safe_load(path.read_text())
    jsonschema.validate(data, schema)
    corner, vdd = _point_of(path.name)
    for line in path.read_text().splitlines():  # every number names its source and operating point
        if re.match(r"\s+(energy|area):", line):
            assert "  # " in line, line
            assert f"@ {corner}/{vdd:g} V/27 C" in line or "area_estimate" in line, line
    return data


def test_accelergy_ert_and_art_load_validate_and_equal_the_tables(tmp_path, capsys):
    from bdpe.accelergy import ENERGY_SCALE, art_schema, ert_schema
    from circuits.bdpe import BDPEParams, area_estimate
    from circuits.technology import sky130

    tables = synthetic_tables(tmp_path / "t.h5")  # program_word only at tt
    code, err, out = run(capsys, "export", "accelergy", "--tables", tables, "--all", "-o", tmp_path / "acc")
    assert code == 0, err
    assert len(out) == 8 and len(list((tmp_path / "acc").iterdir())) == 8
    for ert_path in sorted((tmp_path / "acc").glob("*.ERT.yaml")):
        corner, vdd = _point_of(ert_path.name)
        ert = _yaml_checks(ert_path, ert_schema())
        (table,) = ert["ERT"]["tables"]
        energy = {a["name"]: a["energy"] for a in table["actions"]}
        assert table["name"] == "bdpe" and ert["ERT"]["version"] == 0.3
        assert energy["rram_path_op"] == value_at(tables, "bdpe_rram", "energy_J", corner, vdd) * ENERGY_SCALE
        assert energy["register_path_op"] == value_at(tables, "bdpe_register", "energy_J", corner, vdd) * ENERGY_SCALE
        assert energy["idle"] == 0.0 and "not a measurement" in ert_path.read_text()
        if corner == "tt":
            assert energy["write_word"] == value_at(tables, "program_word", "energy_J", corner, vdd) * ENERGY_SCALE
        else:
            assert "write_word" not in energy
            assert "# write_word: omitted: program_word is not characterized at ss/" in ert_path.read_text()
        art = _yaml_checks(ert_path.with_name(ert_path.name.replace("ERT", "ART")), art_schema())
        assert art["ART"]["tables"] == [{"name": "bdpe", "area": area_estimate(BDPEParams(), sky130())["total_um2"]}]


def _files(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*")) if d.exists() else []


@pytest.mark.parametrize("case", ["not-held", "ambiguous", "all-and-corner", "unwritable", "out-is-a-file",
                                  "no-bdpe-ops", "failed-point", "read-only-target", "no-such-tables"])
def test_bad_input_one_line_exit_2_nothing_written(case, tmp_path, capsys):
    tables = synthetic_tables(tmp_path / "t.h5", failed="bdpe_register" if case == "failed-point" else None,
                              ops=("bdpe_rram",) if case == "no-bdpe-ops" else ("bdpe_rram", "bdpe_register"))
    out = tmp_path / "new" / "dir"
    point = ["--corner", "tt", "--vdd", "1.6", "--temp", "27"]
    args = {"not-held": ["--corner", "ff", "--vdd", "1.8"], "ambiguous": ["--vdd", "1.8"],
            "all-and-corner": ["--all", "--corner", "tt"], "unwritable": point, "out-is-a-file": point,
            "no-bdpe-ops": ["--all"], "failed-point": ["--all"], "read-only-target": ["--all"], "no-such-tables": ["--all"]}[case]
    needle = {"not-held": "'ff/1.8/*' is not in the tables (they hold: tt/1.6 V/27 C,", "ambiguous": "matches 2 points",
              "all-and-corner": "--corner", "unwritable": "/proc", "out-is-a-file": "is not a directory",
              "no-bdpe-ops": "has no bdpe_register table", "failed-point": "bdpe_register at tt/1.6 V/27 C failed",
              "read-only-target": "read-only", "no-such-tables": "no such file"}[case]
    if case == "unwritable":
        out = Path("/proc/bdpe-export")
    elif case == "out-is-a-file":
        out = tmp_path / "a-file"
        out.write_text("x")
    elif case == "read-only-target":
        out.mkdir(parents=True)
        (out / "bdpe_ss_1p80v_27c.lib").write_text("old")
        os.chmod(out / "bdpe_ss_1p80v_27c.lib", 0o444)
    before = _files(tmp_path)
    source = tmp_path / "missing.h5" if case == "no-such-tables" else tables
    code, err, stdout = run(capsys, "export", "liberty", "--tables", source, *args, "-o", out)
    assert code == 2 and len(err) == 1 and err[0].startswith("bdpe: error: ") and needle in err[0], (code, err)
    assert stdout == [] and _files(tmp_path) == before  # no directory, no file, no temporary left


def test_existing_directory_keeps_other_files_and_replaces_atomically(tmp_path, capsys):
    tables = synthetic_tables(tmp_path / "t.h5")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    (out / "bdpe_tt_1p80v_27c.lib").write_text("stale")
    code, err, _ = run(capsys, "export", "liberty", "--tables", tables, "--corner", "tt", "--vdd", "1.8", "-o", out)
    assert code == 0, err
    assert _files(out) == ["bdpe_tt_1p80v_27c.lib", "keep.txt"] and (out / "keep.txt").read_text() == "mine"
    check_liberty_values(out / "bdpe_tt_1p80v_27c.lib", tables)
    mode = (out / "bdpe_tt_1p80v_27c.lib").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


@pytest.mark.ngspice
def test_real_tables_export_both_formats(report_tables, tmp_path, capsys):
    """The session's simulated tables (tt/1.8 V/27 C): both exports, every consumer."""
    from bdpe.accelergy import art_schema, ert_schema

    code, err, _ = run(capsys, "export", "liberty", "--tables", report_tables, "-o", tmp_path / "lib")
    assert code == 0, err
    lib = tmp_path / "lib" / "bdpe_tt_1p80v_27c.lib"
    check_with_yosys(lib)
    check_liberty_values(lib, report_tables)
    code, err, _ = run(capsys, "export", "accelergy", "--tables", report_tables, "--corner", "tt", "-o", tmp_path / "acc")
    assert code == 0, err
    ert = _yaml_checks(tmp_path / "acc" / "bdpe_tt_1p80v_27c.ERT.yaml", ert_schema())
    _yaml_checks(tmp_path / "acc" / "bdpe_tt_1p80v_27c.ART.yaml", art_schema())
    names = [a["name"] for a in ert["ERT"]["tables"][0]["actions"]]
    assert names == ["rram_path_op", "register_path_op", "idle"]  # no program_word in these tables
