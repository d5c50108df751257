"""``bdpe`` command line.

Exit codes: 0 ok; 2 bad input (one line on stderr naming the field or value, no traceback);
1 anything else (a failed simulation included).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import sys
import time
import warnings
from pathlib import Path

__all__ = ["main", "UsageError"]


class UsageError(Exception):
    """Bad input: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + error otherwise)
        raise UsageError(message)


class _Once(argparse.Action):
    """A single-valued option given twice is an error (argparse would keep the last silently)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            raise UsageError(f"{option_string} given twice ({getattr(namespace, self.dest)!r} and {values!r}): "
                             "give it once")
        setattr(namespace, self.dest, values)


def _parse_sets(items: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--set {item!r}: expected NAME=VALUE")
        if name in values:
            raise UsageError(f"--set {name}: given twice")
        values[name] = value
    return values


def _clean(text: object) -> str:
    """Untrusted text made safe for a terminal (a campaign name must not clear the screen or forge
    a summary line): :func:`characterize.files.safe_text`."""
    from characterize.files import safe_text

    return safe_text(text)


def _say(text: str) -> None:
    print(_clean(text), file=sys.stderr)


def _out(text: str) -> None:
    print(_clean(text))


_SCHEDULER_RE = re.compile(r"((tcp|tls|ws|wss|inproc|ucx)://)?[A-Za-z0-9._\-]+(:[0-9]{1,5})?/?|"
                           r"(tcp|tls)://\[[0-9A-Fa-f:]+\](:[0-9]{1,5})?/?", re.ASCII)


def _check_scheduler(value: str | None) -> None:
    if value is None:
        return
    if len(value) > 200 or not _SCHEDULER_RE.fullmatch(value) or ("://" not in value and ":" not in value):
        raise UsageError(f"--scheduler {value!r}: not a scheduler address (e.g. tcp://127.0.0.1:8786)")
    port = value.rstrip("/").rsplit(":", 1)[-1]
    if port.isdigit() and not 0 < int(port) < 65536:
        raise UsageError(f"--scheduler {value!r}: port {port} is outside 1..65535")


def _int_arg(text: str) -> int:
    """An integer option: ASCII decimal without leading zeros (argparse's int() takes '٢', '02', '2_0')."""
    from circuits.netlist import NetlistValueError, check_int

    if not re.fullmatch(r"-?(0|[1-9][0-9]{0,11})", text, re.ASCII):
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (ASCII decimal digits)")
    try:
        return check_int("value", text)
    except NetlistValueError as exc:  # pragma: no cover - the pattern above already holds
        raise argparse.ArgumentTypeError(f"{text!r} {exc.reason}") from None


def _float_arg(text: str) -> float:
    """A number option: ASCII, finite (argparse's float() takes '１.８', '1_8e-1', ' 1.8 ', 'nan')."""
    from circuits.netlist import NetlistValueError, check_number

    try:
        return check_number("value", text)
    except NetlistValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} {exc.reason}") from None


def _cache_dir(option: str | None) -> str:
    """The point cache: --cache, else $BDPE_CACHE (unset or empty: .bdpe-cache), checked before work."""
    from characterize.files import check_output_dir

    if option is not None:
        check_output_dir("--cache", option)
        return option
    env = os.environ.get("BDPE_CACHE") or ""
    check_output_dir("BDPE_CACHE", env or ".bdpe-cache")
    return env or ".bdpe-cache"


def _check_jobs(jobs: int | None) -> None:
    if jobs is not None and not 1 <= jobs <= 1024:
        raise UsageError(f"--jobs {jobs}: must be within 1..1024")


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cmd_simulate(args) -> int:
    import numpy as np

    from characterize.runtime import run
    from characterize.testbenches import get_testbench, parse_params

    from characterize.files import check_output_file

    tb = get_testbench(args.operation)
    params = parse_params(tb, _parse_sets(args.set))
    spec = tb.spec(params)  # validated: nothing has been simulated yet
    if args.plot is not None:
        check_output_file("--plot", args.plot, ".png")
    if args.dry_run:  # everything validated and the deck built; nothing simulated
        import hashlib

        netlist = spec.netlist()
        payload = {"operation": tb.name, "params": {k: getattr(params, k) for k in params.__dataclass_fields__},
                   "dry_run": True, "netlist_lines": netlist.count("\n") + 1,
                   "netlist_sha256": hashlib.sha256(netlist.encode()).hexdigest()}
        if args.json:  # json.dumps escapes every control character itself
            print(json.dumps(payload, indent=2))
        else:
            _out(f"{tb.name}: {spec.label}: valid; deck of {payload['netlist_lines']} lines (not simulated: --dry-run)")
        return 0
    result = run(spec)
    if not result.ok:
        _say(f"bdpe: simulation failed ({result.error_kind}): {result.error}")
        return 1
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):  # a NaN result, not extra lines
            warnings.simplefilter("ignore", RuntimeWarning)
            metrics = tb.measure(params, result)
    except Exception as exc:  # MeasurementNotFound included: one line, exit 1
        _say(f"bdpe: measurement failed: {type(exc).__name__}: {exc}")
        return 1
    if args.plot:
        _plot(result, args.plot, title=spec.label)
    if args.json:
        payload = {"operation": tb.name, "params": {k: getattr(params, k) for k in params.__dataclass_fields__},
                   **{k: _jsonable(v) for k, v in metrics.items()}, "units": dict(tb.units),
                   "notes": list(result.notes)}
        print(json.dumps(payload, indent=2))
    else:
        _out(f"{tb.name}: {spec.label}")
        for key, value in metrics.items():
            unit = tb.units.get(key, "")
            _out(f"  {key:28s} {value:.6g} {unit}" if isinstance(value, float) else f"  {key:28s} {value}")
    return 0


def _plot(result, path: str, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axis = "time" if "time" in result.vectors else "sweep"
    x = result.vectors.get(axis)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, vec in result.vectors.items():
        if name != axis and x is not None and not name.startswith("i_"):  # voltages; currents are i_*
            ax.plot(x * (1e9 if axis == "time" else 1), vec.real, label=name)
    ax.set_xlabel("time (ns)" if axis == "time" else "sweep (V)")
    ax.set_ylabel("voltage (V)")
    ax.set_title(title)
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    from characterize.files import atomic_write

    atomic_write(path, buffer.getvalue())  # no stray temporary file, whatever fails


RUN_CAMPAIGNS = (("default", "sky130"), ("freepdk45", "freepdk45"))  # (built-in campaign, its technology)


def _run_campaigns(args, out: Path, cache_dir, interval) -> list:
    """Stage 1 of ``bdpe run``: the built-in campaign of every installed technology, cached ->
    [(technology, OUT/tables-<technology>.h5)]."""
    from campaigns import available, builtin
    from characterize.campaign import parse_campaign, plan
    from characterize.execute import run_campaign
    from circuits.technology import TechnologyNotFound, get_technology

    produced = []
    for name, tech in RUN_CAMPAIGNS:
        if name not in available():
            continue
        try:
            get_technology(tech)
        except TechnologyNotFound as exc:
            _say(f"bdpe run [1/3] skipped {name}.toml: {str(exc).splitlines()[0]} (scripts/setup.sh installs it)")
            continue
        campaign = parse_campaign(builtin(name), source=f"{name}.toml")  # package data: works installed
        path = out / f"tables-{tech}.h5"
        _say(f"bdpe run [1/3] characterize: the built-in campaign {name}.toml ({tech}), {len(plan(campaign))} points "
             "(cached points are not re-simulated)")
        summary = run_campaign(campaign, path, jobs=args.jobs, cache_dir=cache_dir, progress=True,
                               progress_interval=interval)
        _say(f"bdpe run [1/3] {summary.line()}; ngspice analysis time {summary.analysis_time_s:.1f} s")
        for op, coords, message in summary.failures:
            _say(f"  failed: {op} {coords}: {message[:160]}")
        produced.append((tech, path))
    return produced


def cmd_run(args) -> int:
    """The main job: the built-in campaign of each technology (cached) -> OUT/tables-<technology>.h5
    -> every built-in network on paper-a53 with the published DotP numbers and with each
    technology's tables -> OUT/evaluate.json -> OUT/report/ (report.md, report.html, figures)."""
    from characterize.files import check_output_dir

    _check_jobs(args.jobs)
    interval = _progress_interval(args.progress_interval)
    out = check_output_dir("--out", args.out)
    cache_dir = _cache_dir(args.cache)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    produced = _run_campaigns(args, out, cache_dir, interval)  # (technology, tables path)

    if not produced:
        raise RuntimeError("no technology of the built-in campaigns is installed (scripts/setup.sh installs them)")
    _say("bdpe run [2/3] evaluate: built-in networks on paper-a53, published DotP and each technology's tables")
    from bdpe.report import make_report, tech_label
    from characterize.tables import open_tables
    from circuits.technology import nominal_vdd
    from system_model import PUBLISHED_DOTP, available_networks, bdpe_config_from_tables, evaluate, get_network, get_platform

    configs = {}
    for tech, path in produced:
        tables = open_tables(path)
        vdd = nominal_vdd(tech)
        configs[tech] = bdpe_config_from_tables(
            tables, vdd=vdd, source=f"{path} @ tt/{vdd:g} V/27 C (campaign {str(tables.attrs.get('campaign_sha256'))[:12]})")
    platform = get_platform("paper-a53")
    report = {}
    for name in available_networks():
        net = get_network(name)
        report[name] = {"published_dotp": evaluate(net, platform, PUBLISHED_DOTP).to_dict()}
        line = [f"published DotP: perf {report[name]['published_dotp']['gain']['performance']:+.2%} energy "
                f"{report[name]['published_dotp']['gain']['energy']:+.2%}"]
        for tech, cfg in configs.items():
            report[name][f"{tech}_tables"] = evaluate(net, platform, cfg).to_dict()
            g = report[name][f"{tech}_tables"]["gain"]
            line.append(f"{tech_label(tech)}: perf {g['performance']:+.2%} energy {g['energy']:+.2%}")
        _say(f"  {name:18s} " + " | ".join(line))
    _write_json(out / "evaluate.json", report)

    _say("bdpe run [3/3] report")
    first = [p for t, p in produced if t == "sky130"][:1] or [p for _, p in produced][:1]
    report_tables = first + _sense_ber_tables(out, first[0]) + [p for _, p in produced if p not in first]
    make_report(report_tables, out / "report", progress=lambda m: _say(f"  report: {m}"))
    _say(f"bdpe run: done in {time.perf_counter() - t0:.0f} s: {', '.join(str(p) for _, p in produced)}, "
         f"{out / 'evaluate.json'}, {out / 'report' / 'report.md'}, {out / 'report' / 'report.html'}")
    return 0


def _sense_ber_tables(out: Path, tables: Path) -> list[Path]:
    """OUT/sense_ber.h5 when a user characterized it there (campaigns/sense_ber.toml, ~1 h, not part
    of `bdpe run`): the report then adds accuracy vs window. Said either way; never an error."""
    from characterize.tables import TableError, TableSet, open_tables

    path = out / "sense_ber.h5"
    if not path.is_file():
        _say(f"  report: no {path} (bdpe characterize campaigns/sense_ber.toml -o {path} adds accuracy vs window)")
        return []
    try:
        TableSet([open_tables(tables), open_tables(path)])
    except TableError as exc:
        _say(f"  report: {path} left out: {str(exc).splitlines()[0]}")
        return []
    _say(f"  report: adding {path} (sense_ber: accuracy vs window)")
    return [path]


def _open_table_file(path: str):
    """An existing, valid table file (``characterize.open_tables``), or one UsageError line."""
    from characterize.tables import open_tables

    try:
        if Path(path).is_dir():
            raise UsageError(f"--tables {path!r}: is a directory")
        if not Path(path).is_file():
            raise UsageError(f"--tables {path!r}: no such file")
    except OSError as exc:
        raise UsageError(f"--tables {path!r}: cannot be used ({exc.strerror or exc})") from None
    return open_tables(path)


def _open_bdpe_tables(path: str):
    """A table file holding both BDPE operations, or one UsageError line."""
    tables = _open_table_file(path)
    for op in ("bdpe_rram", "bdpe_register"):
        if op not in tables.operations:
            raise UsageError(f"--tables {path!r}: has no {op} table (run a campaign with both BDPE operations)")
        for metric in ("latency_s", "energy_J"):
            if metric not in tables.metrics(op):
                raise UsageError(f"--tables {path!r}: {op} has no {metric} metric")
    return tables


def cmd_report(args) -> int:
    from bdpe.report import group_by_technology, make_report
    from characterize.files import check_output_dir
    from characterize.tables import TableError, TableSet
    from circuits.technology import nominal_vdd
    from system_model import bdpe_config_from_tables

    first, *more = args.tables
    seen = {}
    for path in args.tables:
        key = Path(path).resolve()
        if key in seen:
            raise UsageError(f"--tables {path!r}: the same file as {seen[key]!r} (give each file once)")
        seen[key] = path
    tables = _open_bdpe_tables(first)
    groups = group_by_technology(args.tables, [tables] + [_open_table_file(p) for p in more])
    primary = groups[0][0]
    for tech, group in groups:  # files of one technology add operations (e.g. sense_ber); another
        try:                    # technology is compared side by side and needs both BDPE operations
            ts = TableSet([f for _, f in group])
        except TableError as exc:
            raise UsageError(f"--tables: {str(exc).splitlines()[0]}") from None
        if tech != primary and not {"bdpe_rram", "bdpe_register"} <= set(ts.operations):
            raise UsageError(f"--tables {str(group[0][0])!r}: its technology {tech!r} differs from {primary!r} and its "
                             f"files hold no bdpe_rram and bdpe_register tables to compare")
    check_output_dir("--out", args.out)
    try:  # the operating point the report uses must hold finite BDPE numbers: checked before any file
        bdpe_config_from_tables(tables, vdd=nominal_vdd(primary))
        for tech, group in groups[1:]:
            bdpe_config_from_tables(TableSet([f for _, f in group]), vdd=nominal_vdd(tech))
    except ValueError as exc:
        raise UsageError(f"--tables: {str(exc).splitlines()[0]}") from None
    make_report(args.tables, args.out, progress=lambda m: _say(f"bdpe report: {m}"))
    _say(f"bdpe report: wrote {Path(args.out) / 'report.md'} and {Path(args.out) / 'report.html'}")
    return 0


def _write_json(path: Path, payload) -> None:
    """Write atomically: a reader never sees a half-written file."""
    from characterize.files import atomic_write

    atomic_write(path, json.dumps(payload, indent=2) + "\n")


def _operating_point(tables, path: str, corner: str | None, vdd: float | None) -> tuple[str, float]:
    """(corner, VDD) for ``--tables``: defaults tt and the technology's nominal supply; a corner or
    supply the tables' technology does not have is one UsageError line naming the technology."""
    name = str(tables.attrs.get("technology", "sky130"))
    try:
        from circuits.technology import get_technology
        tech = get_technology(name)
    except Exception:  # technology files missing or an unknown name: the tables' own axes decide
        tech = None
    corner = "tt" if corner is None else corner
    if vdd is None:
        vdd = tech.vdd_nominal_V if tech is not None else 1.8
    if tech is not None:
        if corner not in tech.corners:
            raise UsageError(f"--corner {corner!r}: not a corner of {name}, the technology of {path} "
                             f"({', '.join(tech.corners)})")
        lo, hi = tech.vdd_range_V
        if not lo <= vdd <= hi:
            raise UsageError(f"--vdd {vdd:g}: outside {name}'s core supply range [{lo:g}, {hi:g}] V "
                             f"(the technology of {path}; nominal {tech.vdd_nominal_V:g} V)")
    return corner, vdd


def cmd_evaluate(args) -> int:
    from system_model import PUBLISHED_DOTP, available_networks, available_platforms, evaluate
    from system_model import get_network, get_platform
    from dataclasses import replace

    if args.network not in available_networks():
        raise UsageError(f"--network {args.network!r}: not one of {', '.join(available_networks())}")
    if args.platform not in available_platforms():
        raise UsageError(f"--platform {args.platform!r}: not one of {', '.join(available_platforms())}")
    for name, value in (("--vdd", args.vdd), ("--temp", args.temp)):
        if value is not None and not math.isfinite(value):
            raise UsageError(f"{name} {value}: not a finite number")
    if args.tables is not None:
        from system_model import bdpe_config_from_tables

        tables = _open_bdpe_tables(args.tables)
        corner, vdd = _operating_point(tables, args.tables, args.corner, args.vdd)
        try:
            bdpe = bdpe_config_from_tables(tables, corner=corner, vdd=vdd,
                                           temperature=27.0 if args.temp is None else args.temp,
                                           source=f"{args.tables} (campaign {str(tables.attrs.get('campaign_sha256', '?'))[:12]})")
        except ValueError as exc:
            raise UsageError(str(exc).splitlines()[0]) from None
    else:
        if any(v is not None for v in (args.corner, args.vdd, args.temp)):
            raise UsageError("--corner/--vdd/--temp: only meaningful with --tables")
        bdpe = PUBLISHED_DOTP
    if args.rram_usage is not None:
        if not 0.0 <= args.rram_usage <= 1.0:
            raise UsageError(f"--rram-usage {args.rram_usage}: must be within [0, 1]")
        bdpe = replace(bdpe, rram_words=None, rram_usage=args.rram_usage)
    elif args.rram_words is not None:
        if not 0 <= args.rram_words <= 10**9:
            raise UsageError(f"--rram-words {args.rram_words}: must be within 0..1000000000")
        bdpe = replace(bdpe, rram_words=args.rram_words)
    if args.pipelined:
        bdpe = replace(bdpe, pipelined=True)
    result = evaluate(get_network(args.network), replace(get_platform(args.platform), unroll=args.unroll), bdpe)
    data = result.to_dict()
    if args.tables is not None:  # which operating point of which technology the numbers are
        data["bdpe_config"].update({"technology": str(tables.attrs.get("technology", "?")), "corner": corner, "vdd": vdd,
                                    "temperature": 27.0 if args.temp is None else args.temp})
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    _print_evaluation(data, get_platform(args.platform).f_clk_Hz)
    return 0


def _print_evaluation(data: dict, f_clk_Hz: float) -> None:
    """The text form of ``bdpe evaluate``."""
    _out(f"{data['network']} on {data['platform']}: {data['bdp_ops']:,} BDPs, {data['kernel_words']:,} kernel words, "
          f"RRAM {data['rram_words']} words, usage {data['bdpe_usage']:.2%}; BDPE: {data['bdpe_config']['source']}")
    c = data["bdpe_config"]
    _out(f"BDPE timing at {f_clk_Hz / 1e9:g} GHz: CHK {_cycles(c['chk_cycles'])} (a new one every "
         f"{c['chk_interval_cycles']}), DPM {c['dpm_cycles']} (every {c['dpm_interval_cycles']}); "
         f"{'pipelined' if c['pipelined'] else 'unpipelined'}; word loop unrolled x{data['model']['unroll']}")
    head = f"{'layer':10s} {'kind':9s} {'BDPs':>12s} {'RRAM hits':>12s} {'base Mcyc':>10s} {'BDPE Mcyc':>10s} {'base L1D':>12s} {'BDPE L1D':>12s}"
    _out(head)
    for layer in data["layers"]:
        if layer["kind"] not in ("conv", "dense"):
            continue
        _out(f"{layer['name']:10s} {layer['kind'] + ('/bin' if layer['binary'] else '/fp'):9s} {layer['bdps']:12,d} "
              f"{layer['rram_hits']:12,.0f} {layer['baseline']['cycles'] / 1e6:10.2f} {layer['bdpe']['cycles'] / 1e6:10.2f} "
              f"{layer['baseline']['l1d_reads']:12,d} {layer['bdpe']['l1d_reads']:12,.0f}")
    for key in ("baseline", "bdpe"):
        t = data[key]
        _out(f"{key:9s} time {t['time_s'] * 1e3:9.3f} ms  cycles {t['cycles']:,.0f}  insts {t['instructions']:,.0f}  "
              f"L1D reads {t['l1d_reads']:,.0f}  energy {t['energy_J']:.5f} J (with DRAM {t['energy_with_dram_J']:.4f} J)")
    g = data["gain"]
    _out(f"gain: performance {g['performance']:+.2%}, energy {g['energy']:+.2%} (with DRAM {g['energy_with_dram']:+.2%}), "
          f"memory accesses per BDP -{g['mem_access_reduction_per_bdp']:.4f}")
    _out("gain vs BDPE latency (CHK = DPM = N cycles, unpipelined): " + ", ".join(f"{s['bdpe_latency_cycles']} cyc {s['performance']:+.2%}"
                                             for s in data["latency_sweep"]))
    _print_mechanisms(data)


def _cycles(n) -> str:
    return f"{n} cycle" if n == 1 else f"{n} cycles"


def _print_mechanisms(data: dict) -> None:
    """The gains' range over the uncertain latencies and the binary GEMM's cycles by cause."""
    u = data.get("uncertainty") or {}
    if not u:
        return
    _out(f"range over the uncertain latencies ({', '.join(f'{k} {a}-{b}' for k, (a, b) in u['latencies'].items())}): "
         f"performance {u['performance']['low']:+.2%} .. {u['performance']['high']:+.2%}, "
         f"energy {u['energy']['low']:+.2%} .. {u['energy']['high']:+.2%}, "
         f"BDPE time {u['bdpe_time_s']['low'] * 1e3:.1f} .. {u['bdpe_time_s']['high'] * 1e3:.1f} ms")
    for key in ("baseline", "bdpe"):
        b = data[key]["bdp"]
        cyc, mem = b["cycles_by_cause"], b["memory"]
        _out(f"{key:9s} binary GEMM: {b['cycles'] / 1e6:.1f} Mcyc = " + " + ".join(
            f"{name} {value / 1e6:.1f}" for name, value in cyc.items()) + f"; L1D read misses "
            f"{mem['l1d_read_misses']:,.0f}, L2 hits {mem['l2_read_hits']:,.0f}, DRAM reads {mem['dram_reads']:,.0f}, "
            f"mispredictions {sum(b['mispredictions'].values()):,.0f}")


def _accuracy_ber(args) -> tuple[float, str]:
    """The bit-error rate of ``bdpe accuracy``: --ber (default 0), or read from --tables.

    ``--tables T --corner C --vdd V --window W [--d2d-sigma S] [--t-sense T]`` reads the ``sense_ber``
    operation (``campaigns/sense_ber.toml``) through :func:`system_model.faults.ber_from_tables` (its
    contract is documented there); an axis the table holds with several values must be given."""
    point = {"--corner": args.corner, "--vdd": args.vdd, "--window": args.window}
    extra = {"d2d_sigma": args.d2d_sigma, "t_sense": args.t_sense}
    if args.tables is None:
        given = [name for name, value in point.items() if value is not None]
        given += [f"--{k.replace('_', '-')}" for k, v in extra.items() if v is not None]
        if given:
            raise UsageError(f"{given[0]}: only meaningful with --tables")
        ber = 0.0 if args.ber is None else args.ber + 0.0  # -0 -> 0
        if not 0.0 <= ber <= 1.0:
            raise UsageError(f"--ber {ber:g}: must be within [0, 1]")
        return ber, "--ber"
    from system_model.faults import SENSE_BER_OPERATION, ber_from_tables

    tables = _open_table_file(args.tables)
    if SENSE_BER_OPERATION not in tables.operations:
        raise UsageError(f"--tables {args.tables!r}: holds no {SENSE_BER_OPERATION} operation (characterize "
                         f"campaigns/sense_ber.toml, or give the rate with --ber P)")
    missing = [name for name, value in point.items() if value is None]
    if missing:
        raise UsageError(f"--tables: {', '.join(missing)} missing (the operating point of the {SENSE_BER_OPERATION} table)")
    try:
        ber = ber_from_tables(tables, corner=args.corner, vdd=args.vdd, window=args.window,
                              **{k: v for k, v in extra.items() if v is not None})
    except ValueError as exc:
        raise UsageError(f"--tables {args.tables!r}: {str(exc).splitlines()[0]}") from None
    at = "".join(f", {k} {v:g}" for k, v in extra.items() if v is not None)
    return ber, f"{args.tables}: {SENSE_BER_OPERATION} at {args.corner}/{args.vdd:g} V/window {args.window:g}{at}"


def _check_accuracy_args(args) -> int | None:
    """--network, --seeds, --rram-words of ``bdpe accuracy``; returns the capacity (None = all)."""
    from system_model import available_networks
    from system_model.trained import TRAINED_NETWORKS

    if args.network not in TRAINED_NETWORKS:
        what = "has no trained weights" if args.network in available_networks() else "is not a built-in network"
        raise UsageError(f"--network {args.network!r}: {what} (trained networks: {', '.join(TRAINED_NETWORKS)})")
    if not 1 <= args.seeds <= 1000:
        raise UsageError(f"--seeds {args.seeds}: must be within 1..1000")
    if args.rram_words == "all":
        return None
    if not 0 <= args.rram_words <= 10**9:
        raise UsageError(f"--rram-words {args.rram_words}: must be within 0..1000000000, or all")
    return args.rram_words


def cmd_accuracy(args) -> int:
    """Test accuracy of a trained BNN with bit errors in its RRAM-resident kernel words."""
    from system_model.trained import accuracy_under_errors, load_trained

    words = _check_accuracy_args(args)
    ber, source = _accuracy_ber(args)
    result = accuracy_under_errors(load_trained(args.network), ber, mode=args.mode, rram_words=words,
                                   seeds=args.seeds)
    result.update(ber_source=source, rram_capacity="all" if words is None else words)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    by_layer = ", ".join(f"{name} {n}" for name, n in result["rram_words_by_layer"].items())
    _out(f"{result['network']}: clean test accuracy {result['clean_accuracy']:.4f} (float reference "
         f"{result['float_reference_accuracy']:.4f}), {result['test_images']} test images")
    _out(f"errors: {result['mode']}, BER {ber:g} ({source}), {result['rram_words']} of {result['kernel_words']} "
         f"kernel words in RRAM ({by_layer}), {result['seeds']} seed{'s' * (result['seeds'] != 1)}")
    _out(f"accuracy {result['accuracy']:.4f} +- {result['accuracy_std']:.4f} (per seed: "
         + " ".join(f"{a:.4f}" for a in result["accuracies"])
         + f"); flipped bits per seed {result['flipped_bits_mean']:.1f} of {result['bits_at_risk']} at risk")
    return 0


def _rram_words_arg(text: str):
    """--rram-words of bdpe accuracy: an integer or ``all``."""
    return "all" if text == "all" else _int_arg(text)


def _schema_text() -> str:
    try:
        from characterize.campaign import describe_schema
        return describe_schema()
    except Exception:  # pragma: no cover - help text only
        return ""


def cmd_characterize(args) -> int:
    from characterize.campaign import load_campaign, plan
    from characterize.execute import run_campaign
    from characterize.files import check_output_file

    check_output_file("-o", args.output, ".h5")
    _check_jobs(args.jobs)
    interval = _progress_interval(args.progress_interval)
    if args.scheduler is not None and args.executor != "dask":
        raise UsageError("--scheduler: only meaningful with --executor dask")
    _check_scheduler(args.scheduler)
    cache_dir = _cache_dir(args.cache)
    campaign = load_campaign(args.campaign)
    n = len(plan(campaign))  # every point validated before anything runs
    _say(f"bdpe characterize: {campaign.name}: {n} points, {len(campaign.operations)} operations, "
         f"executor {args.executor}")
    if args.dry_run:
        _say(f"bdpe characterize: valid; nothing simulated, {args.output} not written (--dry-run)")
        return 0
    try:
        summary = run_campaign(campaign, args.output, jobs=args.jobs, executor=args.executor,
                               scheduler=args.scheduler, cache_dir=cache_dir, progress=not args.no_progress,
                               progress_interval=interval)
    except OSError as exc:  # e.g. the disk filled up while writing the tables: nothing half-written
        _say(f"bdpe: error: cannot write {args.output}: {exc.strerror or exc}; finished points are kept in "
             f"the cache {cache_dir} (a re-run resumes from them)")
        return 1
    _say(f"bdpe characterize: {summary.line()}; analysis time {summary.analysis_time_s:.1f} s; wrote {args.output}")
    for op, coords, message in summary.failures:
        _say(f"  failed: {op} {coords}: {message[:200]}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bdpe", description="RRAM binary dot-product engine: circuit-to-system evaluation")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="the main job on the built-in defaults")
    p.add_argument("--out", default="out", help="output directory (default: out/)")
    p.add_argument("--jobs", type=_int_arg, help="local worker processes (default: all cores)")
    p.add_argument("--cache", metavar="DIR", help="point cache (default: $BDPE_CACHE or .bdpe-cache)")
    _add_progress_interval(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="report (Markdown, HTML, figures) from a table file")
    p.add_argument("--tables", required=True, metavar="TABLES.h5", action="append",
                   help="the BDPE tables; repeat to add operations from more files of the same technology "
                        "(e.g. --tables out/tables.h5 --tables out/sense_ber.h5)")
    p.add_argument("--out", default="out/report", help="output directory (default: out/report)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("characterize", help="run a campaign (TOML) into HDF5 lookup tables",
                       description="Run a characterization campaign into HDF5 tables. Campaign schema:\n\n"
                                   + _schema_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("campaign", metavar="CAMPAIGN.toml")
    p.add_argument("-o", "--output", required=True, metavar="TABLES.h5")
    p.add_argument("--jobs", type=_int_arg, help="local worker processes (default: all cores)")
    p.add_argument("--executor", choices=("local", "dask"), default="local")
    p.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address (tcp://host:8786)")
    p.add_argument("--cache", metavar="DIR", help="point cache (default: $BDPE_CACHE or .bdpe-cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar and no progress lines")
    _add_progress_interval(p)
    p.add_argument("--dry-run", action="store_true", help="validate the campaign, the paths and every point; simulate nothing")
    p.set_defaults(func=cmd_characterize)

    p = sub.add_parser("simulate", help="run one testbench")
    p.add_argument("operation", help="testbench name (bdpe simulate --list)", nargs="?")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="testbench parameter")
    p.add_argument("--json", action="store_true", help="print the measurements as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="plot the probed waveforms")
    p.add_argument("--list", action="store_true", help="list testbenches and their parameters")
    p.add_argument("--dry-run", action="store_true", help="validate the parameters and build the deck; do not simulate")
    p.set_defaults(func=cmd_simulate_or_list)

    _add_evaluate_parser(sub)
    _add_accuracy_parser(sub)
    _add_export_parser(sub)
    return parser


def _add_evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="per-layer cost tally, baseline CPU vs CPU + BDPE")
    p.add_argument("--network", required=True)
    p.add_argument("--platform", default="paper-a53")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--tables", metavar="TABLES.h5", action=_Once, help="characterized tables (bdpe run: out/tables-<technology>.h5)")
    src.add_argument("--published-dotp", action="store_true", help="published 28 nm DotP numbers (default)")
    cap = p.add_mutually_exclusive_group()
    cap.add_argument("--rram-words", type=_int_arg, help="RRAM capacity in 64-bit words (default 128)")
    cap.add_argument("--rram-usage", type=_float_arg, help="force this fraction of BDPs to hit the RRAM")
    p.add_argument("--corner")
    p.add_argument("--vdd", type=_float_arg)
    p.add_argument("--temp", type=_float_arg)
    p.add_argument("--pipelined", action="store_true",
                   help="a register between sensing and popcount: a new BDP every stage, latency two stages")
    p.add_argument("--unroll", type=int, choices=(1, 2, 4), default=1,
                   help="BDPs per iteration of the word loop (default 1: Darknet's loop, the published runs')")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)


def _add_accuracy_parser(sub) -> None:
    p = sub.add_parser("accuracy", help="trained BNN test accuracy under RRAM bit errors")
    p.add_argument("--network", required=True, help="a trained network (digits-bnn)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--ber", type=_float_arg, help="bit-error rate of an RRAM-resident bit, in [0, 1] (default 0)")
    src.add_argument("--tables", metavar="TABLES.h5", action=_Once, help="read the rate from a sense_ber table (campaigns/sense_ber.toml)")
    p.add_argument("--corner", help="with --tables")
    p.add_argument("--vdd", type=_float_arg, help="with --tables")
    p.add_argument("--window", type=_float_arg, help="with --tables: R_off / R_on")
    p.add_argument("--d2d-sigma", type=_float_arg, help="with --tables: RRAM device-to-device sigma/mu")
    p.add_argument("--t-sense", type=_float_arg, metavar="S", help="with --tables: sense time (s)")
    p.add_argument("--rram-words", type=_rram_words_arg, default="all", metavar="N|all",
                   help="RRAM capacity in 64-bit words, filled most-used first (default all)")
    p.add_argument("--seeds", type=_int_arg, default=5, help="error draws, seeds 0..K-1 (default 5)")
    p.add_argument("--mode", choices=("persistent", "transient"), default="persistent",
                   help="persistent: stored bits flipped once per seed; transient: every read afresh")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_accuracy)


def _add_progress_interval(p) -> None:
    p.add_argument("--progress-interval", type=_float_arg, metavar="S",
                   help="when stderr is not a terminal: a progress line every S seconds (default 10) and at the end")


def _progress_interval(value: float | None) -> float:
    from characterize.progress import DEFAULT_INTERVAL_S

    if value is None:
        return DEFAULT_INTERVAL_S
    if not 0.1 <= value <= 86400:
        raise UsageError(f"--progress-interval {value:g}: must be within 0.1..86400 seconds")
    return value


def _add_export_parser(sub) -> None:
    p = sub.add_parser("export", help="the BDPE for other tools: Liberty libraries or Accelergy ERT/ART tables")
    p.add_argument("format", choices=("liberty", "accelergy"))
    p.add_argument("--tables", required=True, metavar="TABLES.h5", help="a table file with both BDPE operations")
    p.add_argument("--corner", help="operating point (may be left out when the tables hold one value)")
    p.add_argument("--vdd", type=_float_arg, help="operating point: supply (V)")
    p.add_argument("--temp", type=_float_arg, help="operating point: temperature (C)")
    p.add_argument("--all", action="store_true", help="every operating point the tables hold, one file set each")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output directory (created if missing)")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    """``bdpe export liberty|accelergy``: files rendered in memory, then written (bdpe/export.py)."""
    from bdpe.export import run_export

    tables = _open_bdpe_tables(args.tables)
    paths = run_export(args.format, tables, args.out, corner=args.corner, vdd=args.vdd, temperature=args.temp,
                       all_points=args.all)
    for path in paths:
        _out(str(path))
    _say(f"bdpe export {args.format}: wrote {len(paths)} file{'s' * (len(paths) != 1)} to {args.out}")
    return 0


def cmd_simulate_or_list(args) -> int:
    from characterize.testbenches import available, describe_params, get_testbench

    if args.list or args.operation is None:
        if args.operation is None and not args.list:
            raise UsageError("simulate: OPERATION is required (bdpe simulate --list shows them)")
        extra = [name for name, given in (("OPERATION", args.operation), ("--set", args.set), ("--plot", args.plot),
                                          ("--dry-run", args.dry_run)) if given]
        if extra:
            raise UsageError(f"--list: takes no {extra[0]} (it lists every testbench)")
        listing = {name: {"description": get_testbench(name).description,
                          "params": [dict(zip(("name", "type", "default", "unit", "doc"), row))
                                     for row in describe_params(get_testbench(name))]} for name in available()}
        if args.json:
            print(json.dumps(listing, indent=2, default=str))
            return 0
        for name, entry in listing.items():
            _out(f"{name}: {entry['description']}")
            for row in entry["params"]:
                _out(f"    {row['name']} ({row['type']}, {row['unit']}, default {row['default']}): {row['doc']}")
        return 0
    return cmd_simulate(args)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad input, 1 anything else, 130 Ctrl-C)."""
    try:
        from rram_models.base import InputError

        bad_input = (UsageError, InputError)  # every layer's bad-input error derives from InputError
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
            return args.func(args)
        except bad_input as exc:
            _say(f"bdpe: error: {exc}")
            return 2
        except Exception as exc:  # anything else: one line, exit 1 (never a traceback unless asked for)
            if os.environ.get("BDPE_DEBUG") or isinstance(exc, BrokenPipeError):
                raise
            _say(f"bdpe: failed: {type(exc).__name__}: {exc} (BDPE_DEBUG=1 shows the traceback)")
            return 1
    except KeyboardInterrupt:
        _say("bdpe: interrupted")
        return 130
    except BrokenPipeError:  # the reader went away (`bdpe ... | head -1`): quiet, as for SIGPIPE
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 141


if __name__ == "__main__":
    sys.exit(main())
