"""Fixed-horizon frequentist comparison of a treatment arm with control.

Each function takes the two arms' sufficient statistics and returns a
``Comparison``: the absolute difference (treatment - control) and the relative
lift (treatment - control) / |control|, each with a standard error, a two-sided
confidence interval and a p-value. The relative lift's standard error comes from
the delta method and so carries the uncertainty of the control mean too.

Data that leaves a figure undefined (an empty arm, no variance, a zero control
value) gives NaN figures and a code from ``analysis.codes`` in ``message``;
arguments no data could produce (a negative count, alpha outside (0, 1)) raise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from scipy import stats

from analysis import codes
from analysis.sufficient import RatioStats, SampleStats

_NAN: Final = float("nan")


@dataclass(frozen=True)
class Effect:
    """One estimated effect with its two-sided interval and p-value."""

    estimate: float
    standard_error: float
    ci_low: float
    ci_high: float
    p_value: float


UNDEFINED_EFFECT: Final = Effect(_NAN, _NAN, _NAN, _NAN, _NAN)


@dataclass(frozen=True)
class Comparison:
    """Treatment against control on one metric.

    ``method`` is "two_proportions", "welch", "delta_ratio" or "cuped_welch".
    When data trouble leaves a figure undefined it is NaN and ``message`` holds
    a code from ``analysis.codes``; figures that are still defined (the arm
    values, the absolute difference when only the relative lift fails) are kept.
    """

    method: str
    control_value: float
    treatment_value: float
    absolute: Effect
    relative: Effect
    message: str | None = None


def check_alpha(alpha: float) -> None:
    """Raise unless 0 < alpha < 1."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def z_critical(alpha: float) -> float:
    """Two-sided critical value of the standard normal."""
    return float(stats.norm.isf(alpha / 2))


def t_critical(alpha: float, dof: float) -> float:
    """Two-sided critical value of Student's t."""
    return float(stats.t.isf(alpha / 2, dof))


def z_effect(estimate: float, standard_error: float, alpha: float) -> Effect:
    """Effect with a normal-theory interval and p-value; standard_error > 0."""
    half = z_critical(alpha) * standard_error
    p = 2.0 * float(stats.norm.sf(abs(estimate) / standard_error))
    return Effect(estimate, standard_error, estimate - half, estimate + half, p)


def t_effect(
    estimate: float, standard_error: float, dof: float, alpha: float
) -> Effect:
    """Effect with a Student t interval and p-value; standard_error > 0."""
    half = t_critical(alpha, dof) * standard_error
    p = 2.0 * float(stats.t.sf(abs(estimate) / standard_error, dof))
    return Effect(estimate, standard_error, estimate - half, estimate + half, p)


def relative_lift(
    control: float, treatment: float, control_var: float, treatment_var: float
) -> tuple[float, float]:
    """(treatment - control) / |control| and its delta-method standard error.

    ``control_var`` and ``treatment_var`` are the variances of the two estimates
    (already divided by n); the arms are independent. control must not be 0.
    """
    estimate = (treatment - control) / abs(control)
    variance = treatment_var / control**2 + treatment**2 * control_var / control**4
    return estimate, math.sqrt(variance)


def welch_dof(control_var: float, treatment_var: float, nc: int, nt: int) -> float:
    """Welch-Satterthwaite degrees of freedom from the variances of the means."""
    denominator = control_var**2 / (nc - 1) + treatment_var**2 / (nt - 1)
    return (control_var + treatment_var) ** 2 / denominator


def _undefined(method: str, control: float, treatment: float, code: str) -> Comparison:
    return Comparison(
        method, control, treatment, UNDEFINED_EFFECT, UNDEFINED_EFFECT, code
    )


def _with_relative(
    method: str,
    control: float,
    treatment: float,
    absolute: Effect,
    relative: Effect | None,
) -> Comparison:
    if relative is None:
        return Comparison(
            method, control, treatment, absolute, UNDEFINED_EFFECT, codes.ZERO_BASELINE
        )
    return Comparison(method, control, treatment, absolute, relative)


def compare_proportions(
    control: SampleStats, treatment: SampleStats, alpha: float = 0.05
) -> Comparison:
    """Two-proportion comparison of conversion rates.

    ``sum`` is the number of converters. The absolute p-value is the pooled
    two-proportion z test's; the absolute interval is the unpooled Wald
    interval; the relative lift uses the delta method with z. Per-arm variance
    is p(1 - p).
    """
    check_alpha(alpha)
    for arm in (control, treatment):
        if not 0 <= arm.sum <= arm.n:
            raise ValueError(f"converters must be in [0, n], got {arm}")
    method = "two_proportions"
    pc, pt = control.mean, treatment.mean
    if control.n == 0 or treatment.n == 0:
        return _undefined(method, pc, pt, codes.EMPTY_ARM)
    var_c = pc * (1.0 - pc) / control.n
    var_t = pt * (1.0 - pt) / treatment.n
    se = math.sqrt(var_c + var_t)
    if se == 0.0:
        return _undefined(method, pc, pt, codes.ZERO_VARIANCE)
    pooled = (control.sum + treatment.sum) / (control.n + treatment.n)
    se_null = math.sqrt(pooled * (1.0 - pooled) * (1 / control.n + 1 / treatment.n))
    p_pooled = 2.0 * float(stats.norm.sf(abs(pt - pc) / se_null))
    wald = z_effect(pt - pc, se, alpha)
    absolute = Effect(wald.estimate, se, wald.ci_low, wald.ci_high, p_pooled)
    relative = None
    if pc != 0.0:
        relative = z_effect(*relative_lift(pc, pt, var_c, var_t), alpha)
    return _with_relative(method, pc, pt, absolute, relative)


def compare_means(
    control: SampleStats, treatment: SampleStats, alpha: float = 0.05
) -> Comparison:
    """Welch t test on a per-user mean, absolute and relative.

    Both effects use Student t with the Welch-Satterthwaite degrees of freedom
    of the absolute difference; the relative one takes its standard error from
    the delta method.
    """
    check_alpha(alpha)
    method = "welch"
    mc, mt = control.mean, treatment.mean
    if control.n == 0 or treatment.n == 0:
        return _undefined(method, mc, mt, codes.EMPTY_ARM)
    if control.n < 2 or treatment.n < 2:
        return _undefined(method, mc, mt, codes.TOO_FEW_UNITS)
    var_c = control.variance / control.n
    var_t = treatment.variance / treatment.n
    if var_c + var_t == 0.0:
        return _undefined(method, mc, mt, codes.ZERO_VARIANCE)
    dof = welch_dof(var_c, var_t, control.n, treatment.n)
    absolute = t_effect(mt - mc, math.sqrt(var_c + var_t), dof, alpha)
    relative = None
    if mc != 0.0:
        relative = t_effect(*relative_lift(mc, mt, var_c, var_t), dof, alpha)
    return _with_relative(method, mc, mt, absolute, relative)


def ratio_variance(arm: RatioStats) -> float:
    """Delta-method variance of an arm's ratio of sums (n >= 2, denominator != 0)."""
    mean_den = arm.denominator_sum / arm.n
    r = arm.ratio
    per_user = (
        arm.numerator.variance
        - 2.0 * r * arm.covariance
        + r * r * arm.denominator.variance
    )
    return max(0.0, per_user) / (arm.n * mean_den**2)


def compare_ratios(
    control: RatioStats, treatment: RatioStats, alpha: float = 0.05
) -> Comparison:
    """Ratio metric randomised by user (e.g. CTR), by the delta method with z.

    The per-arm variance includes the numerator-denominator covariance, which an
    impression-level binomial test wrongly leaves out.
    """
    check_alpha(alpha)
    method = "delta_ratio"
    rc, rt = control.ratio, treatment.ratio
    if control.n == 0 or treatment.n == 0:
        return _undefined(method, rc, rt, codes.EMPTY_ARM)
    if control.n < 2 or treatment.n < 2:
        return _undefined(method, rc, rt, codes.TOO_FEW_UNITS)
    if control.denominator_sum == 0 or treatment.denominator_sum == 0:
        return _undefined(method, rc, rt, codes.ZERO_DENOMINATOR)
    var_c, var_t = ratio_variance(control), ratio_variance(treatment)
    if var_c + var_t == 0.0:
        return _undefined(method, rc, rt, codes.ZERO_VARIANCE)
    absolute = z_effect(rt - rc, math.sqrt(var_c + var_t), alpha)
    relative = None
    if rc != 0.0:
        relative = z_effect(*relative_lift(rc, rt, var_c, var_t), alpha)
    return _with_relative(method, rc, rt, absolute, relative)
