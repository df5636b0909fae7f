"""CUPED for ratio metrics against a per-user linearisation computed here."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import codes
from analysis.cuped import RatioCovariateStats, compare_ratios_cuped
from analysis.significance import compare_ratios

_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _stats(values: _Arrays) -> RatioCovariateStats:
    v = np.vstack(values)
    products = v @ v.T
    sums = v.sum(axis=1)
    return RatioCovariateStats(
        v.shape[1],
        (float(sums[0]), float(sums[1]), float(sums[2]), float(sums[3])),
        tuple((float(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in products),
    )


def _arm(rng: np.random.Generator, n: int, ctr: float, link: float) -> _Arrays:
    views_pre = rng.poisson(20, n).astype(float)
    taste = rng.beta(2, 20, n)
    clicks_pre = rng.binomial(views_pre.astype(int), taste).astype(float)
    views = rng.poisson(20, n).astype(float)
    rate = np.clip(link * taste + (1 - link) * 0.09 + (ctr - 0.09), 0, 1)
    clicks = rng.binomial(views.astype(int), rate).astype(float)
    return clicks, views, clicks_pre, views_pre


def _linearised(values: _Arrays) -> tuple[float, float, np.ndarray, np.ndarray]:
    yn, yd, xn, xd = values
    ry, rx = yn.sum() / yd.sum(), xn.sum() / xd.sum()
    return ry, rx, (yn - ry * yd) / yd.mean(), (xn - rx * xd) / xd.mean()


def test_ratio_cuped_matches_linearisation() -> None:
    rng = np.random.default_rng(3)
    control, treatment = _arm(rng, 3000, 0.09, 0.9), _arm(rng, 3000, 0.095, 0.9)
    result = compare_ratios_cuped(_stats(control), _stats(treatment))
    ry_c, rx_c, ly_c, lx_c = _linearised(control)
    ry_t, rx_t, ly_t, lx_t = _linearised(treatment)
    n = 3000
    cov = (np.cov(ly_c, lx_c)[0, 1] + np.cov(ly_t, lx_t)[0, 1]) / n
    var_x = (lx_c.var(ddof=1) + lx_t.var(ddof=1)) / n
    theta = cov / var_x
    effect = (ry_t - ry_c) - theta * (rx_t - rx_c)
    se = np.sqrt(
        ((ly_c - theta * lx_c).var(ddof=1) + (ly_t - theta * lx_t).var(ddof=1)) / n
    )
    assert result.theta == pytest.approx(theta, rel=1e-9)
    assert result.adjusted.absolute.estimate == pytest.approx(effect, rel=1e-9)
    assert result.adjusted.absolute.standard_error == pytest.approx(se, rel=1e-9)
    unadjusted = compare_ratios(_stats(control).post, _stats(treatment).post)
    assert result.unadjusted == unadjusted
    expected = 1 - se**2 / unadjusted.absolute.standard_error**2
    assert result.variance_reduction == pytest.approx(expected, rel=1e-9)
    assert result.variance_reduction > 0.1
    assert result.adjusted.method == "cuped_delta_ratio"


def test_ratio_cuped_without_pre_period_is_unadjusted() -> None:
    rng = np.random.default_rng(4)
    control, treatment = _arm(rng, 500, 0.09, 0.5), _arm(rng, 500, 0.09, 0.5)
    empty = (control[0], control[1], control[2] * 0, control[3] * 0)
    result = compare_ratios_cuped(_stats(empty), _stats(treatment))
    assert result.message == codes.ZERO_COVARIATE_VARIANCE
    assert result.adjusted == result.unadjusted
    assert result.variance_reduction == 0.0


def test_ratio_cuped_relative_lift_carries_control_uncertainty() -> None:
    rng = np.random.default_rng(5)
    control, treatment = _arm(rng, 2000, 0.09, 0.9), _arm(rng, 2000, 0.10, 0.9)
    result = compare_ratios_cuped(_stats(control), _stats(treatment))
    rel = result.adjusted.relative
    absolute = result.adjusted.absolute
    r_c = result.adjusted.control_value
    assert rel.estimate == pytest.approx(absolute.estimate / r_c)
    # More than the treatment-only part: the control's ratio is uncertain too.
    assert rel.standard_error > absolute.standard_error / r_c * 0.99
    assert rel.ci_low < rel.estimate < rel.ci_high
