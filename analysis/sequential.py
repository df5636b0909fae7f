"""Always-valid inference: p-values and confidence sequences safe to peek at.

A normal mixture sequential probability ratio test (mSPRT) on the estimate,
with the asymptotic confidence sequence of the same mixture. With N users in
both arms, an estimate d with standard error SE, sigma^2 = N SE^2 and the
mixture scale rho tuned so the sequence is tightest near N = ``tuning``:

    rho^2 = (-2 ln alpha + ln(1 - 2 ln alpha)) / tuning
    halfwidth = sigma sqrt(2 (N rho^2 + 1) ln(sqrt(N rho^2 + 1) / alpha)) / (N rho)
    Lambda = (1 + N rho^2)^(-1/2) exp(N^2 rho^2 d^2 / (2 sigma^2 (1 + N rho^2)))
    p = min(1, 1 / Lambda)

The figures are for one look. Across looks a caller keeps the running minimum
of the p-value and the running intersection of the intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from analysis import codes
from analysis.significance import UNDEFINED_EFFECT, Comparison, Effect, check_alpha


@dataclass(frozen=True)
class SequentialSettings:
    """Tuning of the always-valid test."""

    tuning: float = 5000.0
    """Total users (both arms) at which the confidence sequence is narrowest."""
    alpha: float = 0.05
    """Chance, over the whole experiment, that the sequence ever misses."""

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        if not self.tuning > 0:
            raise ValueError(f"tuning must be positive, got {self.tuning}")

    @property
    def rho(self) -> float:
        """Standard deviation of the normal mixture over effects, per user."""
        log_alpha = -2.0 * math.log(self.alpha)
        return math.sqrt((log_alpha + math.log(log_alpha + 1.0)) / self.tuning)


@dataclass(frozen=True)
class SequentialComparison:
    """Always-valid versions of a fixed-horizon comparison's effects.

    Each effect keeps the fixed-horizon estimate and standard error; its
    interval is the confidence sequence and its p-value the always-valid one.
    """

    fixed_horizon: Comparison
    n_total: int
    absolute: Effect
    relative: Effect
    message: str | None = None


def always_valid_effect(
    effect: Effect, n_total: int, settings: SequentialSettings = SequentialSettings()
) -> Effect:
    """The always-valid interval and p-value for one estimate after n_total users.

    An effect whose estimate or standard error is undefined (NaN) or whose
    standard error is 0 comes back undefined.
    """
    d, se = effect.estimate, effect.standard_error
    if n_total <= 0 or not (math.isfinite(d) and math.isfinite(se)) or se <= 0:
        return UNDEFINED_EFFECT
    scale = n_total * settings.rho**2
    variance = n_total * se * se
    halfwidth = math.sqrt(
        variance
        * 2.0
        * (scale + 1.0)
        * math.log(math.sqrt(scale + 1.0) / settings.alpha)
        / (n_total * scale)
    )
    log_lambda = -0.5 * math.log1p(scale) + n_total * scale * d * d / (
        2.0 * variance * (1.0 + scale)
    )
    p_value = math.exp(-max(0.0, log_lambda))
    return Effect(d, se, d - halfwidth, d + halfwidth, p_value)


def always_valid(
    comparison: Comparison,
    n_total: int,
    settings: SequentialSettings = SequentialSettings(),
) -> SequentialComparison:
    """Always-valid inference for both effects of a comparison.

    ``n_total`` counts the users of both arms. The message is the comparison's
    own, or ``codes.EMPTY_ARM`` when there are no users.
    """
    if n_total < 0:
        raise ValueError(f"n_total must be non-negative, got {n_total}")
    message = comparison.message
    if n_total == 0 and message is None:
        message = codes.EMPTY_ARM
    return SequentialComparison(
        comparison,
        n_total,
        always_valid_effect(comparison.absolute, n_total, settings),
        always_valid_effect(comparison.relative, n_total, settings),
        message,
    )
