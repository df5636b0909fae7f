"""Corrections for testing a family of metrics or variants at once.

Holm (the default) controls the family-wise error rate and is never less
powerful than Bonferroni; Benjamini-Hochberg controls the false discovery rate.
Intervals are widened to match an adjusted p-value by inverting the normal
test: the implied standard error is |estimate| / z(p_adj / 2) (GrowthBook's
approach), so an interval excludes zero exactly when p_adj < alpha.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from analysis.significance import Effect, check_alpha

CorrectionMethod = Literal["holm", "benjamini_hochberg", "bonferroni"]

_Floats = npt.NDArray[np.float64]


def _adjust_sorted(p: _Floats, method: CorrectionMethod) -> _Floats:
    m = p.size
    rank = np.arange(1, m + 1)
    if method == "bonferroni":
        return np.minimum(1.0, m * p)
    if method == "holm":
        return np.minimum(1.0, np.maximum.accumulate((m - rank + 1) * p))
    stepped = np.minimum.accumulate((m / rank * p)[::-1])[::-1]
    return np.minimum(1.0, stepped)


def adjust_p_values(
    p_values: Sequence[float], method: CorrectionMethod = "holm"
) -> tuple[float, ...]:
    """Adjusted p-values, in the order given.

    NaN p-values (comparisons the data left undefined) are not counted in the
    family and stay NaN.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError("p_values must be a flat sequence")
    defined = ~np.isnan(p)
    if np.any((p[defined] < 0.0) | (p[defined] > 1.0)):
        raise ValueError("p-values must be in [0, 1]")
    adjusted = np.full_like(p, np.nan)
    index = np.flatnonzero(defined)
    order = index[np.argsort(p[index], kind="stable")]
    adjusted[order] = _adjust_sorted(p[order], method)
    return tuple(adjusted.tolist())


def adjusted_intervals(
    estimates: Sequence[float], adjusted_p_values: Sequence[float], alpha: float = 0.05
) -> tuple[tuple[float, float], ...]:
    """Two-sided (1 - alpha) intervals that match the adjusted p-values.

    An adjusted p of 1 gives (-inf, inf).
    """
    check_alpha(alpha)
    estimate = np.asarray(estimates, dtype=np.float64)
    p_adj = np.asarray(adjusted_p_values, dtype=np.float64)
    if estimate.shape != p_adj.shape:
        raise ValueError("estimates and adjusted_p_values differ in length")
    z_adj = stats.norm.isf(p_adj / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        implied_se = np.where(p_adj >= 1.0, np.inf, np.abs(estimate) / z_adj)
    half = float(stats.norm.isf(alpha / 2.0)) * implied_se
    low, high = estimate - half, estimate + half
    return tuple(zip(low.tolist(), high.tolist(), strict=True))


def correct_effects(
    effects: Sequence[Effect],
    method: CorrectionMethod = "holm",
    alpha: float = 0.05,
) -> tuple[Effect, ...]:
    """The family's effects with adjusted p-values and intervals to match.

    The interval is never narrower than the one given; its standard error is
    the one implied by the adjusted p-value.
    """
    adjusted = adjust_p_values([e.p_value for e in effects], method)
    estimates = [e.estimate for e in effects]
    intervals = adjusted_intervals(estimates, adjusted, alpha)
    corrected = []
    for effect, p_adj, (low, high) in zip(effects, adjusted, intervals, strict=True):
        if np.isnan(p_adj):
            corrected.append(effect)
            continue
        z_adj = float(stats.norm.isf(p_adj / 2.0))
        implied_se = abs(effect.estimate) / z_adj if z_adj > 0 else np.inf
        corrected.append(
            replace(
                effect,
                standard_error=max(effect.standard_error, implied_se),
                ci_low=min(effect.ci_low, low),
                ci_high=max(effect.ci_high, high),
                p_value=p_adj,
            )
        )
    return tuple(corrected)
