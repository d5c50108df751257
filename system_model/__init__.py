"""BNN networks, a bit-exact functional engine, and the CPU + BDPE platform model.

Place in the pipeline: rram_models -> circuits -> characterize -> tables -> **system_model** ->
report. It never imports circuits, characterize or h5py: BDPE operating points from SPICE tables
arrive as a :class:`BDPEConfig` (``bdpe_config_from_tables`` takes any object with the table API's
``lookup``; the caller opens the file with ``characterize.open_tables``).

Offers: networks (``get_network``, ``available_networks``, :class:`Network`), the engine
(``binary_conv2d``, ``float_conv2d``, ``run_network``; compiled kernels in
:mod:`system_model.kernels`), the platform model (``get_platform``, ``available_platforms``,
:class:`Platform`, :class:`BDPEConfig`, ``PUBLISHED_DOTP``, ``profile_fill``, ``evaluate`` ->
:class:`EvaluationResult`, ``bdpe_config_from_tables``), trained networks and bit errors (``load_trained``,
``accuracy_under_errors`` in :mod:`system_model.trained`; the error model in :mod:`system_model.faults`).
"""
from .engine import binary_conv2d, float_conv2d, run_network
from .networks import Network, available_networks, get_network
from .platform import (PUBLISHED_DOTP, BDPEConfig, EvaluationResult, Platform, available_platforms, evaluate,
                       bdpe_config_from_tables, get_platform, profile_fill)
from .trained import TRAINED_NETWORKS, accuracy_under_errors, load_trained

__all__ = [
    "binary_conv2d", "float_conv2d", "run_network",
    "Network", "available_networks", "get_network",
    "PUBLISHED_DOTP", "BDPEConfig", "EvaluationResult", "Platform", "available_platforms", "evaluate",
    "get_platform", "profile_fill", "bdpe_config_from_tables",
    "TRAINED_NETWORKS", "accuracy_under_errors", "load_trained",
]
