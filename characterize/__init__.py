"""Simulation runtime (ngspice via PySpice), measurements and testbenches.

PySpice is imported by :mod:`characterize.runtime` only, and only inside worker processes.
"""
from .runtime import (Dc, NgspiceSession, Op, Probe, SimResult, SimSpec, SimulationFailed, SimulationPool,
                      Tran, run, run_many)
from .testbenches import Testbench, available, get_testbench, parse_params, register

__all__ = [
    "Dc", "NgspiceSession", "Op", "Probe", "SimResult", "SimSpec", "SimulationFailed", "SimulationPool",
    "Tran", "run", "run_many",
    "Testbench", "available", "get_testbench", "parse_params", "register",
]
