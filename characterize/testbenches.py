"""What ``bdpe simulate OPERATION`` can run: the testbench API in one import.

The data model is :mod:`characterize.testbench`, the registry :mod:`characterize.procedures`, the
testbenches themselves :mod:`characterize.logic_testbenches`, :mod:`characterize.rram_testbenches`,
:mod:`characterize.bdpe_testbenches` and :mod:`characterize.cell_testbenches`.
"""
from .logic_testbenches import InverterChainTB, RCStepTB
from .procedures import OPERATIONS, TESTBENCHES, available, get_testbench, procedure_sha256
from .testbench import Testbench, describe_params, parse_params

__all__ = ["Testbench", "get_testbench", "available", "parse_params", "describe_params", "TESTBENCHES",
           "OPERATIONS", "procedure_sha256", "InverterChainTB", "RCStepTB"]
