"""CUPED: variance reduction with a pre-exposure covariate.

The metric Y is adjusted by a covariate X measured before exposure (usually
the same metric in the weeks before): the effect is

    (mean_Y_t - mean_Y_c) - theta (mean_X_t - mean_X_c),

with theta = cov(Y, X) / var(X) over the users of both arms together (one
theta for the experiment, so the adjustment is the same in each arm). Each
arm's variance of Y - theta X gives a Welch t test. The relative lift divides
by the control's unadjusted mean, and its delta-method standard error includes
the control mean's own uncertainty and covariance with its covariate mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from analysis import codes
from analysis.significance import (
    UNDEFINED_EFFECT,
    Comparison,
    compare_means,
    compare_ratios,
    t_effect,
    welch_dof,
    z_effect,
)
from analysis.sufficient import CovariateStats, RatioCovariateStats

__all__ = [
    "CovariateStats",
    "CupedComparison",
    "RatioCovariateStats",
    "compare_means_cuped",
    "compare_ratios_cuped",
]

_NAN: Final = float("nan")
METHOD: Final = "cuped_welch"
RATIO_METHOD: Final = "cuped_delta_ratio"


@dataclass(frozen=True)
class CupedComparison:
    """A CUPED-adjusted comparison beside the unadjusted one.

    In ``adjusted`` the control value is the control's mean and the treatment
    value the control's mean plus the adjusted effect.
    """

    adjusted: Comparison
    unadjusted: Comparison
    theta: float
    """Regression slope of the metric on the covariate, both arms pooled."""
    correlation: float
    """Correlation of metric and covariate, both arms pooled."""
    variance_reduction: float
    """1 - (adjusted SE / unadjusted SE)^2 of the absolute effect."""
    dof: float
    """Welch degrees of freedom of the adjusted test (NaN for the z test of ratios)."""
    message: str | None = None


def _pooled_moments(
    control: CovariateStats, treatment: CovariateStats
) -> tuple[float, float, float]:
    """Centred sums of squares over both arms: (pre, post, cross)."""
    n = control.n + treatment.n
    pre = control.pre_sum + treatment.pre_sum
    post = control.sum + treatment.sum
    pre_sq = control.pre_sum_squares + treatment.pre_sum_squares
    post_sq = control.sum_squares + treatment.sum_squares
    cross = control.cross_sum + treatment.cross_sum
    return (
        max(0.0, pre_sq - pre * pre / n),
        max(0.0, post_sq - post * post / n),
        cross - pre * post / n,
    )


def _adjusted_variance(arm: CovariateStats, theta: float) -> float:
    """Per-user sample variance of Y - theta X in one arm."""
    spread = (
        arm.post.variance
        - 2.0 * theta * arm.covariance
        + theta * theta * arm.pre.variance
    )
    return max(0.0, spread)


def _undefined(
    unadjusted: Comparison, theta: float, correlation: float, code: str | None
) -> CupedComparison:
    adjusted = Comparison(
        METHOD,
        unadjusted.control_value,
        _NAN,
        UNDEFINED_EFFECT,
        UNDEFINED_EFFECT,
        code,
    )
    return CupedComparison(adjusted, unadjusted, theta, correlation, _NAN, _NAN, code)


def compare_means_cuped(
    control: CovariateStats, treatment: CovariateStats, alpha: float = 0.05
) -> CupedComparison:
    """Welch t test of the CUPED-adjusted mean difference, absolute and relative.

    A constant covariate leaves nothing to adjust by: theta is 0, the figures
    are the unadjusted ones, and the message is ``ZERO_COVARIATE_VARIANCE``.
    """
    unadjusted = compare_means(control.post, treatment.post, alpha)
    if unadjusted.message in (codes.EMPTY_ARM, codes.TOO_FEW_UNITS):
        return _undefined(unadjusted, _NAN, _NAN, unadjusted.message)
    ss_pre, ss_post, ss_cross = _pooled_moments(control, treatment)
    message = None
    if ss_pre == 0.0:
        theta, correlation = 0.0, _NAN
        message = codes.ZERO_COVARIATE_VARIANCE
    else:
        theta = ss_cross / ss_pre
        correlation = ss_cross / math.sqrt(ss_pre * ss_post) if ss_post else _NAN
    var_c = _adjusted_variance(control, theta) / control.n
    var_t = _adjusted_variance(treatment, theta) / treatment.n
    if var_c + var_t == 0.0:
        return _undefined(unadjusted, theta, correlation, codes.ZERO_VARIANCE)
    mean_c = control.post.mean
    effect = (treatment.post.mean - mean_c) - theta * (
        treatment.pre.mean - control.pre.mean
    )
    dof = welch_dof(var_c, var_t, control.n, treatment.n)
    absolute = t_effect(effect, math.sqrt(var_c + var_t), dof, alpha)
    relative = UNDEFINED_EFFECT
    if mean_c != 0.0:
        ratio = 1.0 + effect / mean_c
        control_part = (
            ratio * ratio * control.post.variance
            - 2.0 * ratio * theta * control.covariance
            + theta * theta * control.pre.variance
        ) / control.n
        relative_se = math.sqrt(max(0.0, control_part) + var_t) / abs(mean_c)
        relative = t_effect(effect / abs(mean_c), relative_se, dof, alpha)
    elif message is None:
        message = codes.ZERO_BASELINE
    adjusted = Comparison(METHOD, mean_c, mean_c + effect, absolute, relative, message)
    reduction = _NAN
    if unadjusted.message in (None, codes.ZERO_BASELINE):
        reduction = 1.0 - (var_c + var_t) / unadjusted.absolute.standard_error**2
    return CupedComparison(
        adjusted, unadjusted, theta, correlation, reduction, dof, message
    )


def _ratio_gradients(arm: RatioCovariateStats) -> tuple[np.ndarray, np.ndarray]:
    """Delta-method gradients of the arm's post and pre ratios of means."""
    m = np.asarray(arm.sums, dtype=np.float64) / arm.n
    post = np.array([1.0 / m[1], -m[0] / m[1] ** 2, 0.0, 0.0])
    pre = np.array([0.0, 0.0, 1.0 / m[3], -m[2] / m[3] ** 2])
    return post, pre


def _ratio_moments(arm: RatioCovariateStats) -> tuple[float, float, float]:
    """Variances of the arm's post and pre ratios and their covariance."""
    sigma = np.array([[arm.covariance(i, j) for j in range(4)] for i in range(4)])
    post, pre = _ratio_gradients(arm)
    return (
        float(post @ sigma @ post) / arm.n,
        float(pre @ sigma @ pre) / arm.n,
        float(post @ sigma @ pre) / arm.n,
    )


def compare_ratios_cuped(
    control: RatioCovariateStats, treatment: RatioCovariateStats, alpha: float = 0.05
) -> CupedComparison:
    """CUPED for a ratio metric (e.g. CTR) with its pre-exposure ratio, by z.

    Each arm's ratio R and pre-exposure ratio X get delta-method variances and
    a covariance from the per-user 4 x 4 covariance of the sums; the effect is
    (R_t - R_c) - theta (X_t - X_c) with theta = sum cov(R, X) / sum var(X)
    over the arms, which minimises the adjusted variance. An arm without a
    pre-exposure denominator leaves nothing to adjust by: the figures are the
    unadjusted ones with ``ZERO_COVARIATE_VARIANCE``.
    """
    unadjusted = compare_ratios(control.post, treatment.post, alpha)
    if unadjusted.message is not None and unadjusted.message != codes.ZERO_BASELINE:
        return _undefined(unadjusted, _NAN, _NAN, unadjusted.message)
    if control.sums[3] == 0.0 or treatment.sums[3] == 0.0:
        return _unadjusted_only(unadjusted)
    vy_c, vx_c, cov_c = _ratio_moments(control)
    vy_t, vx_t, cov_t = _ratio_moments(treatment)
    if vx_c + vx_t <= 0.0:
        return _unadjusted_only(unadjusted)
    theta = (cov_c + cov_t) / (vx_c + vx_t)
    correlation = (cov_c + cov_t) / math.sqrt((vy_c + vy_t) * (vx_c + vx_t))
    var_c = max(0.0, vy_c - 2.0 * theta * cov_c + theta * theta * vx_c)
    var_t = max(0.0, vy_t - 2.0 * theta * cov_t + theta * theta * vx_t)
    if var_c + var_t == 0.0:
        return _undefined(unadjusted, theta, correlation, codes.ZERO_VARIANCE)
    r_c = control.post.ratio
    effect = (treatment.post.ratio - r_c) - theta * (
        treatment.pre.ratio - control.pre.ratio
    )
    absolute = z_effect(effect, math.sqrt(var_c + var_t), alpha)
    relative = UNDEFINED_EFFECT
    message = None
    if r_c != 0.0:
        lift = 1.0 + effect / r_c
        control_part = (
            lift * lift * vy_c - 2.0 * lift * theta * cov_c + theta * theta * vx_c
        )
        relative_se = math.sqrt(max(0.0, control_part) + var_t) / abs(r_c)
        relative = z_effect(effect / abs(r_c), relative_se, alpha)
    else:
        message = codes.ZERO_BASELINE
    adjusted = Comparison(RATIO_METHOD, r_c, r_c + effect, absolute, relative, message)
    reduction = 1.0 - (var_c + var_t) / unadjusted.absolute.standard_error**2
    return CupedComparison(
        adjusted, unadjusted, theta, correlation, reduction, _NAN, message
    )


def _unadjusted_only(unadjusted: Comparison) -> CupedComparison:
    """Nothing to adjust by: the unadjusted figures, flagged."""
    return CupedComparison(
        unadjusted,
        unadjusted,
        0.0,
        _NAN,
        0.0,
        _NAN,
        codes.ZERO_COVARIATE_VARIANCE,
    )
