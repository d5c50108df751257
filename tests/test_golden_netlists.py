"""Golden netlists: builders are deterministic functions of their parameters.

Regenerate a golden file after an intended change with ``BDPE_UPDATE_GOLDEN=1 make test``.
Absolute PDK paths are replaced by placeholders so the files do not depend on the venv location.
"""
import os
from pathlib import Path

import pytest

from circuits.inverter_chain import InverterChainParams, inverter_chain

GOLDEN = Path(__file__).parent / "golden"


def _portable(text: str, tech) -> str:
    return text.replace(str(tech.stdcell_dir), "<STDCELL_DIR>").replace(str(tech.library), "<LIBRARY>")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.spice"
    if os.environ.get("BDPE_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with BDPE_UPDATE_GOLDEN=1"
    assert text == path.read_text()


@pytest.mark.parametrize("params", [InverterChainParams(), InverterChainParams(stages=3, cell="inv_2", load_F=0.0)])
def test_inverter_chain_golden(params, sky130_tech):
    sub = inverter_chain(params, sky130_tech)
    again = inverter_chain(params, sky130_tech)
    assert sub == again
    text = "\n".join(sub.include_lines() + [sub.text]) + "\n"
    check_golden(f"inverter_chain_{params.stages}_{params.cell}_{params.load_F:g}", _portable(text, sky130_tech))


@pytest.mark.parametrize("model_name,parameter_set", [("stanford-pku", "default"), ("stanford-pku", "sky130-1t1r"),
                                                      ("vteam", "default"), ("vteam", "sky130-1t1r")])
def test_rram_model_golden(model_name, parameter_set):
    from rram_models import Variability, get_model

    model = get_model(model_name)
    text = model.subckt("rram", parameter_set=parameter_set) + "\n"
    check_golden(f"rram_{model_name}_{parameter_set}", text)
    # with variability: a function of (seed, device) only
    var = Variability(d2d=((next(iter(model.params)), "lognormal", 0.1),), c2c_sigma=0.2, c2c_interval_s=5e-9, seed=3)
    noisy = model.subckt("rram", parameter_set=parameter_set, variability=var, device=2, c2c_stop_s=2e-8)
    assert noisy == model.subckt("rram", parameter_set=parameter_set, variability=var, device=2, c2c_stop_s=2e-8)
    check_golden(f"rram_{model_name}_{parameter_set}_seed3_dev2", noisy + "\n")
