"""Area cross-check (scripts/area_crosscheck.py): the foundry cells' LEF sizes against the Liberty
areas of the facts sheet, the block areas of circuits.bdpe.area_estimate against the cells and
devices the netlists instantiate (exact), and the custom blocks against a transistor-count x
contacted-pitch estimate from SKY130 layout rules."""
import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("area_crosscheck", Path(__file__).parents[1] / "scripts" / "area_crosscheck.py")
area = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(area)

# Liberty `area` of the facts-sheet cells (sky130_fd_sc_hd, tt_025C_1v80), um^2
LIBERTY_AREA = {"inv_1": 3.7536, "fa_1": 20.0192, "ha_1": 12.512, "and2_4": 8.7584, "buf_8": 15.0144, "nand2_1": 3.7536}


@pytest.mark.parametrize("cell", sorted(LIBERTY_AREA))
def test_lef_area_is_the_liberty_area(sky130_tech, cell):
    assert area.lef_area(sky130_tech, cell) == pytest.approx(LIBERTY_AREA[cell], abs=1e-4)


def test_area_estimate_counts_the_cells_the_netlists_have(sky130_tech):
    check = area.foundry_check(sky130_tech)
    for block, v in check["blocks"].items():
        assert v["diff"] == pytest.approx(0.0, abs=1e-6), block
    counts = check["counts"]
    assert counts["popcount"] == {"fa_1": 57, "ha_1": 6}
    assert counts["datapath"] == {"mux2_1": 64, "xnor2_1": 64}
    assert counts["sense_amps"] == {"inv_1": 128, "buf_1": 128}
    assert counts["write_drivers"] == {"and2_4": 128, "inv_1": 64}


def test_pitch_rule_by_hand(sky130_tech):
    # inv_1: nfet W 0.65, pfet W 1.0 -> 0.46 x (0.65 + 0.27) + 0.46 x (1.0 + 0.27) + (0.18 + 0.34) x 0.46
    assert area.pitch_area(area.cell_devices(sky130_tech, "inv_1")) == pytest.approx(0.4232 + 0.5842 + 0.2392, rel=1e-9)
    # a long device adds its extra length to the pitch
    assert area.pitch_area([("nfet", 1.0, 0.65, 2)]) == pytest.approx(2 * (0.46 + 0.5) * 1.27)


def test_custom_blocks_within_the_rule_band(sky130_tech):
    check = area.custom_check(sky130_tech)
    ratio = check["foundry_ratio"]
    # the rule under-estimates every real layout (no routing, taps or rails), by a bounded factor
    assert 1.0 < ratio["min"] <= ratio["median"] <= ratio["max"] < 4.0
    for name, v in check["blocks"].items():
        lo, hi = v["rule_range_um2"]
        assert lo <= v["estimate_um2"] <= hi, name
    assert check["blocks"]["sense_amp (devices, per column)"]["transistors"] == 13
