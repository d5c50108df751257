"""Campaigns -> HDF5 tables: schema, cache, resume after kill -9, failures, Dask, table API."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from characterize.campaign import CampaignError, parse_campaign, plan
from characterize.tables import TableError, open_tables

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "campaigns" / "smoke.toml"
BDPE = [sys.executable, "-m", "bdpe.cli"]


def bdpe(*args, cwd=None, env=None):
    return subprocess.run(BDPE + [str(a) for a in args], capture_output=True, text=True, cwd=cwd or ROOT,
                          env={**os.environ, **(env or {})}, timeout=1800)


def _tables_equal(a: Path, b: Path):
    ta, tb = open_tables(a), open_tables(b)
    assert ta.operations == tb.operations
    for op in ta.operations:
        for axis, values in ta.axes(op).items():
            assert list(values) == list(tb.axes(op)[axis])
        assert ta.metrics(op) == tb.metrics(op)
        for metric in ta.metrics(op):
            np.testing.assert_allclose(ta.table(op).metrics[metric], tb.table(op).metrics[metric], rtol=1e-9,
                                       equal_nan=True, err_msg=f"{op}.{metric}")
        assert np.array_equal(ta.table(op).status, tb.table(op).status)


def test_smoke_campaign_plans_without_a_simulator():
    campaign = parse_campaign(SMOKE.read_text())
    points = plan(campaign)
    assert len(points) == 13
    assert {p.op for p in points} == {"rram_set", "rram_reset", "inverter_chain", "cell_read", "sense_xnor"}
    assert all(isinstance(dict(p.coords).get("corner", "tt"), str) for p in points)


BAD = {
    "malformed": ("[campaign\nname = 'x'", "TOML"),
    "unknown key": ("[campaign]\nname='x'\ncolour='red'\n[operations.rram_set]\n", "campaign.colour"),
    "negative vdd": ("[campaign]\nname='x'\n[axes]\nvdd=[-1.8]\n[operations.cell_read]\n", "axes.vdd"),
    "string for number": ("[campaign]\nname='x'\n[axes]\nvdd=['1.8']\n[operations.cell_read]\n", "axes.vdd"),
    "injection": ('[campaign]\nname="x"\n[axes]\ncorner=["tt\\n.control\\nshell touch /tmp/pwned"]\n'
                  '[operations.cell_read]\n', "axes.corner"),
    "bad op axis": ("[campaign]\nname='x'\n[operations.rram_set]\naxes={amplitude_V=[-3.0]}\n",
                    "operations.rram_set.axes.amplitude_V"),
    "unknown op": ("[campaign]\nname='x'\n[operations.warp_drive]\n", "operations.warp_drive"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_campaigns_exit_2_with_one_line_and_no_file(case, tmp_path):
    text, field = BAD[case]
    toml = tmp_path / "c.toml"
    toml.write_text(text)
    out = tmp_path / "t.h5"
    r = bdpe("characterize", toml, "-o", out, "--cache", tmp_path / "cache", env={"BDPE_NETLIST_DIR": str(tmp_path / "nl")})
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not out.exists() and not list(tmp_path.glob("*.h5*"))
    assert not (tmp_path / "nl").exists() or not list((tmp_path / "nl").iterdir())


@pytest.mark.ngspice
def test_smoke_campaign_tables_cache_and_lookup(tmp_path):
    out, cache = tmp_path / "t.h5", tmp_path / "cache"
    r = bdpe("characterize", SMOKE, "-o", out, "--cache", cache, "--jobs", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "13 simulated, 0 cached, 0 failed" in r.stderr
    import xarray as xr

    with h5py.File(out) as f:
        for key in ("format", "format_version", "created_utc", "generator", "ngspice_version", "pyspice_version",
                    "technology", "technology_source", "models_sha256", "campaign_toml", "campaign_sha256"):
            assert key in f.attrs, key
        assert f.attrs["format"] == "bdpe-tables" and f.attrs["campaign_toml"] == SMOKE.read_text()
        ops = list(f)
    for op in ops:
        ds = xr.open_dataset(out, group=op, engine="h5netcdf")
        assert "corner" in ds.dims and ds["corner"].values[0] == "tt"
        for name in ds.dims:
            assert "units" in ds[name].attrs, (op, name)
        for name in ds.data_vars:
            if name not in ("message",):
                assert "units" in ds[name].attrs, (op, name)
        assert int(ds["status"].max()) == 0, op
        ds.close()
    # an unchanged re-run simulates nothing
    r2 = bdpe("characterize", SMOKE, "-o", out, "--cache", cache, "--no-progress")
    assert r2.returncode == 0 and "0 simulated, 13 cached" in r2.stderr, r2.stderr
    # adding an axis value runs only the new points
    grown = tmp_path / "grown.toml"
    grown.write_text(SMOKE.read_text().replace("amplitude_V = [0.8, 0.9, 1.0]", "amplitude_V = [0.8, 0.85, 0.9, 1.0]"))
    r3 = bdpe("characterize", grown, "-o", tmp_path / "g.h5", "--cache", cache, "--no-progress")
    assert "1 simulated, 13 cached" in r3.stderr, r3.stderr

    tables = open_tables(out)
    lo = tables.lookup("inverter_chain", "delay_s", corner="tt", vdd=1.6, temperature=27.0)
    hi = tables.lookup("inverter_chain", "delay_s", corner="tt", vdd=1.8, temperature=27.0)
    mid = tables.lookup("inverter_chain", "delay_s", corner="tt", vdd=1.7, temperature=27.0)
    assert min(lo, hi) < mid < max(lo, hi)
    direct = bdpe("simulate", "inverter-chain", "--set", "vdd=1.7", "--json")
    import json
    assert mid == pytest.approx(json.loads(direct.stdout)["delay_s"], rel=0.05)
    with pytest.raises(TableError, match="outside"):
        tables.lookup("inverter_chain", "delay_s", corner="tt", vdd=1.9)
    with pytest.raises(TableError, match="corner"):
        tables.lookup("inverter_chain", "delay_s", corner="ss", vdd=1.7)
    assert tables.to_xarray("rram_set")["switching_time_s"].attrs["units"] == "s"


def test_other_files_are_refused(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(TableError, match="format"):
        open_tables(other)
    newer = tmp_path / "newer.h5"
    with h5py.File(newer, "w") as f:
        f.attrs["format"], f.attrs["format_version"] = "bdpe-tables", 99
    with pytest.raises(TableError, match="version"):
        open_tables(newer)
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(TableError):
        open_tables(tmp_path / "text.h5")


SLOW_CAMPAIGN = """
[campaign]
name = "resume"
[simulator]
retries = 0
[axes]
corner = ["tt"]
vdd = [1.6, 1.7, 1.8, 1.9]
[operations.sense_xnor]
params = { rows = 16 }
"""


@pytest.mark.ngspice
def test_kill_9_then_rerun_equals_uninterrupted(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(SLOW_CAMPAIGN)
    cache, out = tmp_path / "cache", tmp_path / "t.h5"
    proc = subprocess.Popen(BDPE + ["characterize", str(toml), "-o", str(out), "--cache", str(cache), "--jobs", "1",
                                    "--no-progress"], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while time.time() < deadline and len(list(cache.glob("*/*.json"))) < 1:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(cache.glob("*/*.json")))
    assert 1 <= done_before < 4, "the kill should land mid-campaign"
    assert not out.exists()
    r = bdpe("characterize", toml, "-o", out, "--cache", cache, "--jobs", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert f"{4 - done_before} simulated, {done_before} cached" in r.stderr, r.stderr
    ref = tmp_path / "ref.h5"
    r = bdpe("characterize", toml, "-o", ref, "--cache", tmp_path / "cache2", "--jobs", "1", "--no-progress")
    assert r.returncode == 0
    _tables_equal(out, ref)


FAILING_CAMPAIGN = """
[campaign]
name = "failure"
[simulator]
timeout_s = 4.0
retries = 1
[operations.rram_set]
axes = { amplitude_V = [0.8, 0.9] }
params = { width_s = 5e-8 }
[operations.rram_read]
axes = { n_pulses = [3, 100000] }
params = { period_s = 2e-9, width_s = 1e-9 }
"""


@pytest.mark.ngspice
def test_failed_point_gets_status_1_and_the_rest_completes(tmp_path):
    """A point that cannot finish (a 100000-pulse read against a 4 s limit) is retried with the
    robust settings, then recorded with status 1 and its message; every other point completes."""
    toml = tmp_path / "c.toml"
    toml.write_text(FAILING_CAMPAIGN)
    out = tmp_path / "t.h5"
    r = bdpe("characterize", toml, "-o", out, "--cache", tmp_path / "cache", "--jobs", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "1 failed (1 retried)" in r.stderr and "failed: rram_read" in r.stderr, r.stderr
    t = open_tables(out)
    read = t.table("rram_read")
    assert list(read.status.ravel()) == [0, 1]
    assert "timeout" in read.message.ravel()[1]
    assert np.isnan(read.metrics["r_end_ohm"].ravel()[1]) and np.isfinite(read.metrics["r_end_ohm"].ravel()[0])
    assert list(t.table("rram_set").status.ravel()) == [0, 0]


@pytest.mark.ngspice
def test_dask_executor_equals_local(tmp_path):
    from dask.distributed import LocalCluster

    text = """
[campaign]
name = "dask"
[operations.rram_set]
axes = { amplitude_V = [0.8, 0.9, 1.0] }
params = { width_s = 5e-8 }
[operations.rram_reset]
axes = { amplitude_V = [0.7, 0.8] }
params = { width_s = 5e-8 }
"""
    toml = tmp_path / "c.toml"
    toml.write_text(text)
    local = tmp_path / "local.h5"
    r = bdpe("characterize", toml, "-o", local, "--cache", tmp_path / "c1", "--jobs", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask_out = tmp_path / "dask.h5"
        r = bdpe("characterize", toml, "-o", dask_out, "--cache", tmp_path / "c2", "--executor", "dask",
                 "--scheduler", cluster.scheduler_address, "--no-progress")
        assert r.returncode == 0, r.stderr
        assert "5 simulated" in r.stderr
    _tables_equal(local, dask_out)
