"""Sample size, power and minimum detectable effect for a two-arm test.

All methods are two-sided normal approximations. With N users in total, shares
k_c and k_t, and the effect d on the scale the method tests on, the standard
error of the estimate is s / sqrt(N), with s under the null (s0) and under the
alternative (s1) depending on the method:

- proportions, "pooled_null" (default): s0 from the pooled rate
  p = k_c p_c + k_t p_t, s1 from each arm's own p(1 - p); the classic
  formula behind statsmodels' ``samplesize_proportions_2indep_onetail``.
- proportions, "unpooled": s0 = s1 from each arm's own p(1 - p).
- proportions, "cohens_h": the effect is Cohen's h and s0 = s1 = 1 per user, as
  statsmodels' ``NormalIndPower`` with ``proportion_effectsize``.
- means, "normal": s0 = s1 from the common standard deviation; the same as
  ``NormalIndPower`` with effect size d / sd.
- either, "relative_delta": the relative lift tested with its delta-method
  standard error, with the control's variance in both arms (GrowthBook style).

The required N solves |d| sqrt(N) = z_(alpha/2) s0 + z_power s1; each arm gets
the ceiling of its share of N. Power adds both rejection tails.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from scipy import optimize, stats

from analysis import codes
from analysis.significance import check_alpha

MdeScale = Literal["relative", "absolute"]
ProportionMethod = Literal["pooled_null", "unpooled", "cohens_h", "relative_delta"]
MeanMethod = Literal["normal", "relative_delta"]

_NAN: Final = float("nan")
# Spread: (effect on the metric's scale, control share) -> (d, s0, s1)
_Spread = Callable[[float, float], tuple[float, float, float]]


@dataclass(frozen=True)
class PowerSettings:
    """Error rates of the planned test."""

    alpha: float = 0.05
    """Two-sided false positive rate."""
    power: float = 0.8
    """Chance to detect an effect of the planned size."""

    def __post_init__(self) -> None:
        for name in ("alpha", "power"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {value}")


@dataclass(frozen=True)
class SampleSize:
    """Users needed in each arm."""

    n_control: int
    n_treatment: int

    @property
    def n_total(self) -> int:
        return self.n_control + self.n_treatment


@dataclass(frozen=True)
class DetectableEffect:
    """Smallest (upward) effect reaching the power, on both scales.

    NaN with ``codes.NOT_DETECTABLE`` when no effect in the metric's range does
    (a conversion rate cannot pass 1).
    """

    absolute: float
    relative: float
    message: str | None = None


def _proportion_spread(baseline: float, method: ProportionMethod) -> _Spread:
    if not 0.0 < baseline < 1.0:
        raise ValueError(f"baseline rate must be in (0, 1), got {baseline}")
    q = baseline * (1.0 - baseline)

    def spread(effect: float, kc: float) -> tuple[float, float, float]:
        kt = 1.0 - kc
        rate = baseline + effect
        if not 0.0 < rate < 1.0:
            raise ValueError(f"treatment rate must be in (0, 1), got {rate}")
        inverse = 1.0 / kc + 1.0 / kt
        s1 = math.sqrt(q / kc + rate * (1.0 - rate) / kt)
        if method == "pooled_null":
            pooled = kc * baseline + kt * rate
            return effect, math.sqrt(pooled * (1.0 - pooled) * inverse), s1
        if method == "unpooled":
            return effect, s1, s1
        if method == "cohens_h":
            h = 2.0 * (math.asin(math.sqrt(rate)) - math.asin(math.sqrt(baseline)))
            return h, math.sqrt(inverse), math.sqrt(inverse)
        return _relative_delta(baseline, q, effect, kc)

    return spread


def _mean_spread(mean: float, sd: float, method: MeanMethod) -> _Spread:
    if not sd > 0.0 or not math.isfinite(sd):
        raise ValueError(f"sd must be positive and finite, got {sd}")

    def spread(effect: float, kc: float) -> tuple[float, float, float]:
        if method == "relative_delta":
            return _relative_delta(mean, sd * sd, effect, kc)
        s = sd * math.sqrt(1.0 / kc + 1.0 / (1.0 - kc))
        return effect, s, s

    return spread


def _relative_delta(
    mean: float, variance: float, effect: float, kc: float
) -> tuple[float, float, float]:
    if mean == 0.0:
        raise ValueError("a relative-lift test needs a non-zero baseline")
    lift = effect / abs(mean)
    s = math.sqrt(variance / mean**2 * (1.0 / kc + (1.0 + lift) ** 2 / (1.0 - kc)))
    return lift, s, s


def _absolute_effect(baseline: float, mde: float, scale: MdeScale) -> float:
    effect = mde * abs(baseline) if scale == "relative" else mde
    if effect == 0.0 or not math.isfinite(effect):
        raise ValueError(f"the effect must be non-zero and finite, got {effect}")
    return effect


def _check_share(share: float) -> None:
    if not 0.0 < share < 1.0:
        raise ValueError(f"share of the treatment must be in (0, 1), got {share}")


def _sample_size(
    spread: _Spread, effect: float, share_treatment: float, settings: PowerSettings
) -> SampleSize:
    _check_share(share_treatment)
    kc = 1.0 - share_treatment
    d, s0, s1 = spread(effect, kc)
    z_alpha = float(stats.norm.isf(settings.alpha / 2))
    z_power = float(stats.norm.isf(1.0 - settings.power))
    total = ((z_alpha * s0 + z_power * s1) / d) ** 2
    return SampleSize(math.ceil(total * kc), math.ceil(total * share_treatment))


def _power(
    spread: _Spread, effect: float, n_control: float, n_treatment: float, alpha: float
) -> float:
    if not (n_control > 0 and n_treatment > 0):
        raise ValueError("both arms need users")
    total = n_control + n_treatment
    d, s0, s1 = spread(effect, n_control / total)
    z_alpha = float(stats.norm.isf(alpha / 2))
    shift = abs(d) * math.sqrt(total)
    upper = stats.norm.cdf((shift - z_alpha * s0) / s1)
    lower = stats.norm.cdf((-shift - z_alpha * s0) / s1)
    return float(upper + lower)


def _detectable(
    spread: _Spread,
    baseline: float,
    n_control: float,
    n_treatment: float,
    settings: PowerSettings,
    upper: float,
) -> DetectableEffect:
    def gap(effect: float) -> float:
        power = _power(spread, effect, n_control, n_treatment, settings.alpha)
        return power - settings.power

    if gap(upper) < 0.0:
        return DetectableEffect(_NAN, _NAN, codes.NOT_DETECTABLE)
    tiny = upper * 1e-12
    effect = float(optimize.brentq(gap, tiny, upper, xtol=tiny, rtol=1e-12))
    return DetectableEffect(effect, effect / abs(baseline))


def sample_size_proportion(
    baseline: float,
    mde: float,
    scale: MdeScale = "relative",
    share_treatment: float = 0.5,
    settings: PowerSettings = PowerSettings(),
    method: ProportionMethod = "pooled_null",
) -> SampleSize:
    """Users per arm to detect a change of a conversion rate from ``baseline``.

    ``mde`` is relative (0.05: 10% to 10.5%) or absolute (0.005) per ``scale``.
    """
    effect = _absolute_effect(baseline, mde, scale)
    spread = _proportion_spread(baseline, method)
    return _sample_size(spread, effect, share_treatment, settings)


def sample_size_mean(
    mean: float,
    sd: float,
    mde: float,
    scale: MdeScale = "relative",
    share_treatment: float = 0.5,
    settings: PowerSettings = PowerSettings(),
    method: MeanMethod = "normal",
) -> SampleSize:
    """Users per arm to detect a change of a per-user mean (sd per user)."""
    effect = _absolute_effect(mean, mde, scale)
    spread = _mean_spread(mean, sd, method)
    return _sample_size(spread, effect, share_treatment, settings)


def power_proportion(
    baseline: float,
    mde: float,
    n_control: float,
    n_treatment: float,
    scale: MdeScale = "relative",
    alpha: float = 0.05,
    method: ProportionMethod = "pooled_null",
) -> float:
    """Chance that the test rejects when the true change is ``mde``."""
    check_alpha(alpha)
    effect = _absolute_effect(baseline, mde, scale)
    spread = _proportion_spread(baseline, method)
    return _power(spread, effect, n_control, n_treatment, alpha)


def power_mean(
    mean: float,
    sd: float,
    mde: float,
    n_control: float,
    n_treatment: float,
    scale: MdeScale = "relative",
    alpha: float = 0.05,
    method: MeanMethod = "normal",
) -> float:
    """Chance that the test rejects when the true change of the mean is ``mde``."""
    check_alpha(alpha)
    effect = _absolute_effect(mean, mde, scale)
    spread = _mean_spread(mean, sd, method)
    return _power(spread, effect, n_control, n_treatment, alpha)


def mde_proportion(
    baseline: float,
    n_control: float,
    n_treatment: float,
    settings: PowerSettings = PowerSettings(),
    method: ProportionMethod = "pooled_null",
) -> DetectableEffect:
    """Smallest rise of a conversion rate detectable with these users."""
    spread = _proportion_spread(baseline, method)
    upper = (1.0 - baseline) * (1.0 - 1e-9)
    return _detectable(spread, baseline, n_control, n_treatment, settings, upper)


def mde_mean(
    mean: float,
    sd: float,
    n_control: float,
    n_treatment: float,
    settings: PowerSettings = PowerSettings(),
    method: MeanMethod = "normal",
) -> DetectableEffect:
    """Smallest rise of a per-user mean detectable with these users.

    ``relative`` is NaN when ``mean`` is 0 (then only "normal" applies).
    """
    spread = _mean_spread(mean, sd, method)
    upper = sd
    while _power(spread, upper, n_control, n_treatment, settings.alpha) < (
        settings.power
    ):
        upper *= 2.0
    baseline = mean if mean != 0.0 else _NAN
    return _detectable(spread, baseline, n_control, n_treatment, settings, upper)
