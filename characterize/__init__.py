"""Testbenches, the simulation runtime, campaigns and the HDF5 tables.

Place in the pipeline: rram_models -> circuits -> **characterize** (decks + measurements,
ngspice runs, campaigns, cache, tables) -> system_model -> report. PySpice is imported by
:mod:`characterize.runtime` only, and only inside worker processes.

Offers: campaigns (``load_campaign``, ``parse_campaign``, ``plan``, ``run_campaign``, ``Cache``,
``Campaign``, ``CampaignError``, ``RunSummary``), tables (``open_tables`` -> :class:`Tables` with
``operations``, ``axes``, ``metrics``, ``texts``, ``lookup``, ``to_xarray``; ``write_tables``,
``OperationTable``, ``TableError``), the registry (``OPERATIONS``, ``TESTBENCHES``,
``get_testbench``, ``available``, ``procedure_sha256``), testbenches (``Testbench``,
``parse_params``, ``describe_params``), the runtime (``SimSpec``, ``Tran``, ``Op``, ``Probe``,
``SimResult``, ``SimulationPool``, ``NgspiceSession``, ``SimulationFailed``, ``run``) and output
files (``atomic_write``, ``OutputPathError``).
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
