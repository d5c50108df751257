"""Campaign results -> tables: one :class:`OperationTable` per operation (axes, metrics, text
metrics, status, messages, provenance attributes) and the file's root attributes.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import subprocess
from pathlib import Path

import numpy as np

from circuits.technology import get_technology

from .campaign import Campaign, Point, operation_axes
from .procedures import get_testbench
from .tables import OperationTable, json_attr

__all__ = ["assemble_tables", "root_attributes", "MEASUREMENT_DEFINITIONS"]


MEASUREMENT_DEFINITIONS = (
    "Delay/latency: 50 % VDD crossing of the trigger (word-line enable for the RRAM path, operand edge for the "
    "register path, input edge otherwise) to the last 50 % crossing of the output that settles last. Slew 20-80 %. "
    "Energy: integral of V*I delivered by every supply and control source over the operation window. "
    "RRAM SET/RESET latency: pulse start until the resistance at the read voltage (model I-V) crosses "
    "sqrt(R_on*R_off). All measured in numpy from the simulated vectors (no .meas).")


def assemble_tables(campaign: Campaign, points: list[Point], entries: list[dict]) -> list[OperationTable]:
    tables = []
    for op in campaign.operations:
        tb = get_testbench(op.testbench)
        axes = operation_axes(campaign, op)
        shape = tuple(len(a[2]) for a in axes)
        mine = [(p, e) for p, e in zip(points, entries) if p.op == op.name]
        metric_names = sorted({k for _, e in mine for k in e["metrics"]} | {k for k in tb.units
                                                                                if not k.startswith("seed")})
        text_names = sorted({k for _, e in mine for k in e.get("texts", {})})
        metric_names = [k for k in metric_names if k not in text_names and
                        (k in tb.units or any(k in e["metrics"] for _, e in mine))]
        texts = {k: np.full(shape, "", dtype=object) for k in text_names}
        metrics = {k: np.full(shape, np.nan) for k in metric_names}
        status = np.zeros(shape, dtype=np.int8)
        message = np.full(shape, "", dtype=object)
        netlists = hashlib.sha256()
        for p, e in mine:
            for k in metric_names:
                metrics[k][p.index] = e["metrics"].get(k, np.nan)
            for k in text_names:
                texts[k][p.index] = e.get("texts", {}).get(k, "")
            status[p.index] = e["status"]
            message[p.index] = e["message"]
        for p, _ in sorted(mine, key=lambda pe: pe[0].index):
            netlists.update(p.spec.netlist().encode())
        ax = {}
        for name, _param, vals, _unit in axes:
            ax[name] = np.array(vals, dtype=object) if isinstance(vals[0], str) else np.array(vals, dtype=float)
        attrs = {
            "description": tb.description,
            "testbench": op.testbench,
            "fixed_parameters": json_attr(op.fixed),
            "netlist_sha256": netlists.hexdigest(),
            "measurement_definitions": MEASUREMENT_DEFINITIONS,
        }
        if "model" in op.fixed:  # only operations with an RRAM cell claim an RRAM model
            from rram_models import get_model
            model = get_model(op.fixed["model"])
            attrs["rram_model"] = model.name
            attrs["rram_parameters"] = json_attr(model.resolve(op.fixed["parameter_set"]))
            attrs["rram_parameter_set"] = op.fixed["parameter_set"]
        tables.append(OperationTable(
            name=op.name, axes=ax, axis_units={a[0]: a[3] for a in axes}, metrics=metrics,
            metric_units={k: tb.units.get(k, "-") for k in metric_names},
            metric_descriptions={k: f"{k} ({tb.units.get(k, '-')}) from testbench {op.testbench}" for k in metric_names},
            status=status, message=message, attrs=attrs, texts=texts))
    return tables


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def root_attributes(campaign: Campaign, ngspice: str, models_hash: str) -> dict:
    from importlib.metadata import PackageNotFoundError, version
    try:
        pyspice, generator = version("PySpice"), f"bdpe {version('bdpe')}"
    except PackageNotFoundError:  # pragma: no cover
        pyspice, generator = "unknown", "bdpe"
    tech = get_technology(campaign.technology)
    return {
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "generator": generator, "git_commit": _git_commit(), "ngspice_version": ngspice,
        "pyspice_version": pyspice, "technology": tech.name, "technology_source": tech.source,
        "models_sha256": models_hash, "campaign_name": campaign.name, "campaign_toml": campaign.toml_text,
        "campaign_sha256": campaign.sha256,
    }
