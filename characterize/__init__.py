"""Simulation runtime (ngspice via PySpice), measurements, testbenches, campaigns and HDF5 tables.

Place in the pipeline: circuits (decks) -> **characterize** (simulate, measure, campaign, tables)
-> system_model. PySpice is imported by :mod:`characterize.runtime` only, and only inside worker
processes.
"""
from .cache import Cache
from .campaign import Campaign, CampaignError, load_campaign, parse_campaign, plan
from .execute import RunSummary, run_campaign
from .files import OutputPathError, atomic_write
from .runtime import NgspiceSession, Op, Probe, SimResult, SimSpec, SimulationFailed, SimulationPool, Tran, run
from .tables import OperationTable, Tables, TableError, open_tables, write_tables
from .procedures import OPERATIONS, TESTBENCHES, available, get_testbench, procedure_sha256
from .testbench import Testbench, describe_params, parse_params

__all__ = [
    "Cache", "Campaign", "CampaignError", "load_campaign", "parse_campaign", "plan", "RunSummary", "run_campaign",
    "OutputPathError", "atomic_write",
    "NgspiceSession", "Op", "Probe", "SimResult", "SimSpec", "SimulationFailed", "SimulationPool", "Tran", "run",
    "OperationTable", "Tables", "TableError", "open_tables", "write_tables",
    "OPERATIONS", "TESTBENCHES", "available", "get_testbench", "procedure_sha256",
    "Testbench", "describe_params", "parse_params",
]
