"""Every name architecture.md lists under "Contracts" imports and has the documented shape (no
simulator needed). The command-line contracts are exercised in test_cli.py, test_hardening.py and
test_readme_commands.py; `bdpe accuracy` and `bdpe export` belong to issues not built yet."""
from __future__ import annotations

import inspect
import tomllib
from importlib import import_module
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CONTRACT_NAMES = {
    "rram_models": ["get_model", "available"],
    "characterize": ["open_tables", "load_campaign", "run_campaign", "TableError"],
    "system_model": ["binary_conv2d", "get_network", "get_platform", "evaluate"],
}


@pytest.mark.parametrize("module,name", [(m, n) for m, names in CONTRACT_NAMES.items() for n in names])
def test_contract_name_is_exported(module, name):
    mod = import_module(module)
    assert name in mod.__all__, f"{module}.__all__ lacks {name}"
    assert getattr(mod, name) is not None


def test_rram_model_shape():
    from rram_models import available, get_model

    assert available()
    for name in available():
        m = get_model(name)
        assert m.name == name and isinstance(m.params, dict)
        text = m.subckt("rram")
        assert text.startswith(".subckt rram te be state") and text.rstrip().splitlines()[-1].startswith(".ends")


def test_tables_api_shape():
    from characterize import TableError, open_tables
    from characterize.tables import Tables

    assert issubclass(TableError, ValueError)
    assert "path" in inspect.signature(open_tables).parameters
    for method in ("axes", "metrics", "lookup", "to_xarray"):
        assert callable(getattr(Tables, method))
    assert isinstance(Tables.operations, property)


def test_system_model_shape():
    import numpy as np

    from system_model import binary_conv2d, evaluate, get_network, get_platform

    x = np.ones((1, 3, 3), dtype=np.int8)
    w = np.ones((1, 1, 3, 3), dtype=np.int8)
    out, bdps = binary_conv2d(x, w, stride=1, pad=0)  # the output and the BDP count (one 64-bit word)
    assert out.tolist() == [[[9]]] and bdps == 1
    result = evaluate(get_network("finn-tfc"), get_platform("paper-a53"), None).to_dict()
    for key in ("network", "platform", "bdp_ops", "kernel_words", "rram_words", "bdpe_usage", "baseline", "bdpe",
                "gain", "layers"):
        assert key in result


def test_console_script_entry_point():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, func = scripts["bdpe"].split(":")
    assert callable(getattr(import_module(module), func))
    from bdpe.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"run", "characterize", "simulate", "evaluate", "report"} <= set(commands)
