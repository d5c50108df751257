"""Bit-error rates from Monte Carlo samples of a sense decision: counted, and from a fitted margin.

A sample is one sense decision with its **signed margin** ``m``: positive means the decision is
right, negative wrong (for the sense amplifier, ``m`` is the bit-line differential minus the latch's
own trip point, signed by the stored bit: :mod:`characterize.ber_testbenches`). Two estimates of
the bit-error rate P(wrong) of one stored state:

* **counted**: ``k`` wrong decisions of ``n``; the rate ``k / n`` with its exact (Clopper-Pearson)
  two-sided confidence interval. Needs rates above ~``3 / n``: at ``k = 0`` the interval is
  ``[0, 1 - (alpha/2)^(1/n)]`` (3.7 / n at 95 %).
* **fitted**: a normal distribution fitted to the margins (mean, sample standard deviation); the
  rate is its tail below zero, ``Phi(-mean / std)``. It reaches rates far too small to count,
  under the assumption that the margin is normal out to that tail; the Shapiro-Wilk test of the
  margins is reported with it (a small p-value says the normal shape is doubtful), together with
  ``z = mean / std`` (how far the extrapolation reaches: z = 3.1, 4.8, 6.0 for 1e-3, 1e-6, 1e-9).

:func:`best_ber` picks one of the two: the count when it holds at least ``min_errors`` errors (the
tail is then inside the samples and the count assumes no shape), the fit otherwise.
Pure numpy/scipy: no simulator.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["clopper_pearson", "normal_tail", "MarginFit", "fit_margins", "StateBER", "state_ber", "best_ber",
           "MIN_ERRORS"]

MIN_ERRORS = 20  # counts with at least this many errors are used as they are (95 % CI within ~ -35 %/+55 %)


def clopper_pearson(errors: int, samples: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial confidence interval of ``errors / samples``."""
    if samples <= 0 or not 0 <= errors <= samples:
        raise ValueError(f"need 0 <= errors ({errors}) <= samples ({samples}) and samples > 0")
    alpha = 1.0 - confidence
    lo = 0.0 if errors == 0 else float(stats.beta.ppf(alpha / 2, errors, samples - errors + 1))
    hi = 1.0 if errors == samples else float(stats.beta.ppf(1 - alpha / 2, errors + 1, samples - errors))
    return lo, hi


def normal_tail(mean: float, std: float) -> float:
    """P(m < 0) for m ~ N(mean, std): ``Phi(-mean/std)``, accurate far into the tail (scipy's ndtr)."""
    if not std > 0:
        return float("nan") if not np.isfinite(mean) else float(mean < 0) + 0.5 * float(mean == 0)
    return float(stats.norm.sf(mean / std))


@dataclass(frozen=True)
class MarginFit:
    """A normal fit of signed margins."""

    mean: float
    std: float
    samples: int
    shapiro_p: float  # Shapiro-Wilk p-value of the margins (NaN below 3 samples)

    @property
    def z(self) -> float:
        return self.mean / self.std if self.std > 0 else float("inf") * np.sign(self.mean)

    @property
    def ber(self) -> float:
        return normal_tail(self.mean, self.std)


def fit_margins(margins) -> MarginFit:
    """Normal fit (mean, sample std) and Shapiro-Wilk test of finite margins."""
    m = np.asarray(margins, dtype=float)
    m = m[np.isfinite(m)]
    if m.size < 2:
        raise ValueError(f"a margin fit needs at least 2 finite samples, got {m.size}")
    p = float(stats.shapiro(m).pvalue) if 3 <= m.size and np.ptp(m) > 0 else float("nan")
    return MarginFit(mean=float(m.mean()), std=float(m.std(ddof=1)), samples=int(m.size), shapiro_p=p)


@dataclass(frozen=True)
class StateBER:
    """Both estimates for one stored state."""

    errors: int
    samples: int
    counted: float
    counted_lo: float
    counted_hi: float
    fit: MarginFit
    ber: float          # the estimate to use (best_ber)
    fitted_used: bool


def best_ber(errors: int, samples: int, fitted: float, min_errors: int = MIN_ERRORS) -> tuple[float, bool]:
    """(rate, fitted?): the count ``errors / samples`` when it has ``min_errors`` errors, else the fit."""
    if errors >= min_errors or not math.isfinite(fitted):
        return errors / samples, False
    return fitted, True


def state_ber(margins, wrong, confidence: float = 0.95, min_errors: int = MIN_ERRORS) -> StateBER:
    """Counted and fitted error rates of one stored state from its samples: ``margins`` (signed,
    fitted) and ``wrong`` (the decisions that were actually wrong, counted)."""
    wrong = np.asarray(wrong, dtype=bool)
    n, k = int(wrong.size), int(wrong.sum())
    lo, hi = clopper_pearson(k, n, confidence)
    finite = np.asarray(margins, dtype=float)
    finite = finite[np.isfinite(finite)]
    # fewer than two usable margins (every trip point clipped): no fit, the count stands alone
    fit = fit_margins(finite) if finite.size >= 2 else MarginFit(math.nan, math.nan, int(finite.size), math.nan)
    ber, fitted = best_ber(k, n, fit.ber, min_errors)
    return StateBER(errors=k, samples=n, counted=k / n, counted_lo=lo, counted_hi=hi, fit=fit, ber=ber,
                    fitted_used=fitted)
