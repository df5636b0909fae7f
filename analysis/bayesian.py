"""Bayesian summaries: the chance that treatment beats control.

``chance_to_beat_control`` takes a frequentist comparison and reads its
estimates as normal posteriors under a flat prior: the effect is N(estimate,
SE^2), so the chance to win is Phi(estimate / SE) and the credible interval is
the z interval. ``chance_to_beat_control_beta`` is exact for conversions with
Beta priors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import special, stats

from analysis.significance import Comparison, Effect, check_alpha
from analysis.sufficient import SampleStats

_NAN: Final = float("nan")
# Above this many terms the exact sum would be slow and the normal approximation
# of the two Beta posteriors is already within 1e-6 of it.
_EXACT_TERMS_LIMIT: Final = 2_000_000


@dataclass(frozen=True)
class ChanceToWin:
    """Posterior chance that treatment is better, with credible intervals.

    "Better" means a higher value; for a metric where lower is better, use
    1 - chance. Undefined figures are NaN with the comparison's message.
    """

    absolute: float
    """P(treatment - control > 0)."""
    relative: float
    """P(relative lift > 0) under the delta-method normal for the lift."""
    absolute_interval: tuple[float, float]
    relative_interval: tuple[float, float]
    message: str | None = None


def _normal_posterior(effect: Effect, z: float) -> tuple[float, tuple[float, float]]:
    estimate, se = effect.estimate, effect.standard_error
    if not (math.isfinite(estimate) and math.isfinite(se)) or se <= 0:
        return _NAN, (_NAN, _NAN)
    chance = float(stats.norm.cdf(estimate / se))
    return chance, (estimate - z * se, estimate + z * se)


def chance_to_beat_control(comparison: Comparison, alpha: float = 0.05) -> ChanceToWin:
    """Chance to win and (1 - alpha) credible intervals under a flat prior."""
    check_alpha(alpha)
    z = float(stats.norm.isf(alpha / 2))
    absolute, absolute_interval = _normal_posterior(comparison.absolute, z)
    relative, relative_interval = _normal_posterior(comparison.relative, z)
    return ChanceToWin(
        absolute, relative, absolute_interval, relative_interval, comparison.message
    )


def _beta_beats(alpha_a: float, beta_a: float, alpha_b: float, beta_b: float) -> float:
    """P(X_b > X_a) for independent Beta variables; alpha_b a positive integer.

    The closed-form sum over i < alpha_b of
    B(alpha_a + i, beta_a + beta_b)
    / ((beta_b + i) B(1 + i, beta_b) B(alpha_a, beta_a)).
    """
    i = np.arange(int(alpha_b), dtype=np.float64)
    log_terms = (
        special.betaln(alpha_a + i, beta_a + beta_b)
        - np.log(beta_b + i)
        - special.betaln(1.0 + i, beta_b)
        - special.betaln(alpha_a, beta_a)
    )
    return float(np.exp(special.logsumexp(log_terms)))


def chance_to_beat_control_beta(
    control: SampleStats,
    treatment: SampleStats,
    prior_successes: int = 1,
    prior_failures: int = 1,
) -> float:
    """Exact P(rate_treatment > rate_control) for conversions (``sum`` = converters).

    Posteriors are Beta(prior_successes + converters, prior_failures +
    non-converters); the default Beta(1, 1) prior is uniform. Integer priors
    keep the sum finite. NaN when an arm is empty: the prior alone says nothing.
    """
    if prior_successes < 0 or prior_failures < 0:
        raise ValueError("prior counts must be non-negative")
    if control.n == 0 or treatment.n == 0:
        return _NAN
    posteriors = []
    for arm in (control, treatment):
        if not 0 <= arm.sum <= arm.n or arm.sum != int(arm.sum):
            raise ValueError(f"converters must be a whole number in [0, n]: {arm}")
        a = prior_successes + int(arm.sum)
        b = prior_failures + arm.n - int(arm.sum)
        if a == 0 or b == 0:
            return _NAN
        posteriors.append((float(a), float(b)))
    (a_c, b_c), (a_t, b_t) = posteriors
    if min(a_c, a_t) > _EXACT_TERMS_LIMIT:
        mean_c, mean_t = a_c / (a_c + b_c), a_t / (a_t + b_t)
        var_c = mean_c * (1 - mean_c) / (a_c + b_c + 1)
        var_t = mean_t * (1 - mean_t) / (a_t + b_t + 1)
        return float(stats.norm.cdf((mean_t - mean_c) / math.sqrt(var_c + var_t)))
    if a_t <= a_c:
        return _beta_beats(a_c, b_c, a_t, b_t)
    return 1.0 - _beta_beats(a_t, b_t, a_c, b_c)
