"""Simulated experiments on users resampled from MovieLens behaviour.

They check the statistics, not the SQL: with no true effect the tests must
reject at their nominal rate (A/A), peeking daily must not inflate the
sequential test, and an injected effect of the calculator's MDE must be found
as often as the calculator promised.

Each MovieLens user's ratings, in time order, are split at their midpoint into
a pre-exposure half (the CUPED covariate) and an experiment half. In each half
a day with ratings is a session showing 10 impressions; a rating of 4 or 5 is
a click; a 5-star rating of an item whose id is a multiple of 4 is a purchase
at a price of 1 + (item id mod 13), so revenue is zero-heavy and skewed; a
session lasts 30 s plus 45 s per rating that day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from analysis.cuped import compare_means_cuped, compare_ratios_cuped
from analysis.power import PowerSettings, mde_mean, mde_proportion
from analysis.sequential import SequentialSettings, always_valid
from analysis.significance import (
    Comparison,
    compare_means,
    compare_proportions,
    compare_ratios,
)
from analysis.sufficient import (
    CovariateStats,
    RatioCovariateStats,
    RatioStats,
    SampleStats,
)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
FOUR_METRICS: Final = (
    "click_through_rate",
    "conversion",
    "avg_session_duration",
    "revenue_per_user",
)
_IMPRESSIONS_PER_SESSION: Final = 10.0
_DAY: Final = 86_400


@dataclass(frozen=True)
class Population:
    """Per-user values of the four metrics, after and before exposure."""

    clicks: Floats
    impressions: Floats
    converted: Floats
    revenue: Floats
    duration: Floats
    pre_clicks: Floats
    pre_impressions: Floats
    pre_converted: Floats
    pre_revenue: Floats
    pre_duration: Floats

    @property
    def size(self) -> int:
        return int(self.clicks.size)

    def values(self, metric: str) -> tuple[Floats, Floats]:
        """A per-user metric's values after and before exposure."""
        name = {
            "conversion": "converted",
            "revenue_per_user": "revenue",
            "avg_session_duration": "duration",
        }[metric]
        post: Floats = getattr(self, name)
        pre: Floats = getattr(self, f"pre_{name}")
        return post, pre


def _half_behaviour(
    user: Ints, item: Ints, rating: Ints, day: Ints, n_users: int
) -> tuple[Floats, ...]:
    sessions_key = np.unique(user * 100_000 + day)
    sessions = np.bincount(sessions_key // 100_000, minlength=n_users).astype(float)
    impressions = _IMPRESSIONS_PER_SESSION * sessions
    clicks = np.minimum(
        np.bincount(user, weights=(rating >= 4), minlength=n_users), impressions
    )
    bought = (rating == 5) & (item % 4 == 0)
    revenue = np.bincount(user, weights=bought * (1.0 + item % 13), minlength=n_users)
    converted = (np.bincount(user, weights=bought, minlength=n_users) > 0).astype(float)
    seconds = 30.0 * sessions + 45.0 * np.bincount(user, minlength=n_users)
    duration = np.divide(seconds, sessions, out=np.zeros(n_users), where=sessions > 0)
    return tuple(
        np.asarray(v, dtype=np.float64)
        for v in (clicks, impressions, converted, revenue, duration)
    )


def population_from_ratings(
    user_id: Ints, item_id: Ints, rating: Ints, timestamp: Ints
) -> Population:
    """Per-user behaviour derived from MovieLens ratings (see the module doc)."""
    users, user = np.unique(user_id, return_inverse=True)
    order = np.lexsort((timestamp, user))
    user, item = user[order], item_id[order]
    stars, day = rating[order], timestamp[order] // _DAY
    counts = np.bincount(user)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    position = np.arange(user.size) - starts[user]
    pre = position < counts[user] // 2
    n = users.size
    after = _half_behaviour(user[~pre], item[~pre], stars[~pre], day[~pre], n)
    before = _half_behaviour(user[pre], item[pre], stars[pre], day[pre], n)
    return Population(*after, *before)


def load_population(path: Path) -> Population:
    """The population from MovieLens 100K's u.data (tab-separated)."""
    data = np.loadtxt(path / "u.data", dtype=np.int64)
    return population_from_ratings(data[:, 0], data[:, 1], data[:, 2], data[:, 3])


@dataclass(frozen=True)
class Arms:
    """One simulated experiment's per-arm statistics of the four metrics."""

    stats: dict[str, tuple[SampleStats | RatioStats, SampleStats | RatioStats]]
    covariates: dict[
        str,
        tuple[
            CovariateStats | RatioCovariateStats, CovariateStats | RatioCovariateStats
        ],
    ]


def _ratio_arm(p: Population, idx: Ints, mask: Floats) -> RatioCovariateStats:
    v = np.vstack(
        [
            p.clicks[idx] * mask,
            p.impressions[idx] * mask,
            p.pre_clicks[idx] * mask,
            p.pre_impressions[idx] * mask,
        ]
    )
    sums = v.sum(axis=1)
    products = v @ v.T
    return RatioCovariateStats(
        int(mask.sum()),
        (float(sums[0]), float(sums[1]), float(sums[2]), float(sums[3])),
        tuple((float(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in products),
    )


def _mean_arm(post: Floats, pre: Floats, mask: Floats) -> CovariateStats:
    y, x = post * mask, pre * mask
    return CovariateStats(
        int(mask.sum()),
        float(y.sum()),
        float((y * y).sum()),
        float(x.sum()),
        float((x * x).sum()),
        float((x * y).sum()),
    )


def split(
    population: Population,
    idx: Ints,
    treated: npt.NDArray[np.bool_],
    shift: Callable[[str, Floats], Floats] | None = None,
) -> Arms:
    """Arm statistics for users ``idx`` split by ``treated``; ``shift`` may
    change a metric's treatment values (to inject an effect)."""
    stats: dict[str, tuple[SampleStats | RatioStats, SampleStats | RatioStats]] = {}
    covariates: dict[
        str,
        tuple[
            CovariateStats | RatioCovariateStats, CovariateStats | RatioCovariateStats
        ],
    ] = {}
    masks = (~treated).astype(float), treated.astype(float)
    c_ratio, t_ratio = (_ratio_arm(population, idx, m) for m in masks)
    stats["click_through_rate"] = (c_ratio.post, t_ratio.post)
    covariates["click_through_rate"] = (c_ratio, t_ratio)
    for metric in FOUR_METRICS[1:]:
        post, pre = population.values(metric)
        y, x = post[idx], pre[idx]
        y_t = shift(metric, y) if shift is not None else y
        c = _mean_arm(y, x, masks[0])
        t = _mean_arm(y_t, x, masks[1])
        stats[metric] = (c.post, t.post)
        covariates[metric] = (c, t)
    return Arms(stats, covariates)


def compare_arm(metric: str, control: object, treatment: object) -> Comparison:
    """The report's fixed-horizon test for one of the four metrics."""
    if isinstance(control, RatioStats) and isinstance(treatment, RatioStats):
        return compare_ratios(control, treatment)
    assert isinstance(control, SampleStats) and isinstance(treatment, SampleStats)
    if metric == "conversion":
        return compare_proportions(control, treatment)
    return compare_means(control, treatment)


def compare_cuped(metric: str, control: object, treatment: object) -> Comparison:
    if isinstance(control, RatioCovariateStats) and isinstance(
        treatment, RatioCovariateStats
    ):
        return compare_ratios_cuped(control, treatment).adjusted
    assert isinstance(control, CovariateStats) and isinstance(treatment, CovariateStats)
    return compare_means_cuped(control, treatment).adjusted


@dataclass(frozen=True)
class AARates:
    metric: str
    false_positive_rate: float
    absolute_coverage: float
    """Share of 95% intervals of the absolute lift that contain 0."""
    relative_coverage: float
    cuped_false_positive_rate: float
    cuped_absolute_coverage: float


def _covers(c: Comparison) -> tuple[bool, bool, bool]:
    a, r = c.absolute, c.relative
    return a.p_value < 0.05, a.ci_low <= 0.0 <= a.ci_high, r.ci_low <= 0.0 <= r.ci_high


def simulate_aa(
    population: Population, *, n_users: int, sims: int, seed: int
) -> list[AARates]:
    """A/A experiments: n_users resampled with replacement, split 50/50."""
    rng = np.random.default_rng(seed)
    plain = np.zeros((len(FOUR_METRICS), 3))
    cuped = np.zeros((len(FOUR_METRICS), 3))
    for _ in range(sims):
        idx = rng.integers(0, population.size, n_users)
        arms = split(population, idx, rng.random(n_users) < 0.5)
        for i, metric in enumerate(FOUR_METRICS):
            plain[i] += _covers(compare_arm(metric, *arms.stats[metric]))
            cuped[i] += _covers(compare_cuped(metric, *arms.covariates[metric]))
    plain /= sims
    cuped /= sims
    return [
        AARates(m, *(float(x) for x in (*plain[i], *cuped[i, :2])))
        for i, m in enumerate(FOUR_METRICS)
    ]


@dataclass(frozen=True)
class PeekingRates:
    metric: str
    looks: int
    naive: float
    """Share of A/A experiments with p < 0.05 at some look, fixed-horizon test."""
    sequential: float
    """The same with the always-valid p-value."""
    naive_final_only: float


def simulate_peeking(
    population: Population, *, users_per_day: int, days: int, sims: int, seed: int
) -> list[PeekingRates]:
    """A/A experiments looked at daily: naive against always-valid p-values."""
    rng = np.random.default_rng(seed)
    total = users_per_day * days
    tuning = SequentialSettings(tuning=float(total))
    hits = np.zeros((len(FOUR_METRICS), 3))
    for _ in range(sims):
        idx = rng.integers(0, population.size, total)
        treated = rng.random(total) < 0.5
        naive = np.zeros(len(FOUR_METRICS), dtype=bool)
        sequential = np.zeros(len(FOUR_METRICS), dtype=bool)
        final = np.zeros(len(FOUR_METRICS), dtype=bool)
        for day in range(1, days + 1):
            n = users_per_day * day
            arms = split(population, idx[:n], treated[:n])
            for i, metric in enumerate(FOUR_METRICS):
                c = compare_arm(metric, *arms.stats[metric])
                p = c.absolute.p_value
                naive[i] |= p < 0.05
                final[i] = p < 0.05
                seq = always_valid(c, n, tuning)
                sequential[i] |= seq.absolute.p_value < 0.05
        hits += np.column_stack([naive, sequential, final])
    hits /= sims
    return [
        PeekingRates(m, days, *(float(x) for x in hits[i]))
        for i, m in enumerate(FOUR_METRICS)
    ]


@dataclass(frozen=True)
class PowerCheck:
    metric: str
    n_per_arm: int
    relative_mde: float
    promised: float
    detected: float


def simulate_power(
    population: Population, *, n_per_arm: int, sims: int, seed: int, power: float = 0.8
) -> list[PowerCheck]:
    """Inject the calculator's MDE for n_per_arm users and count detections.

    Conversion: both arms binomial, treatment at baseline x (1 + MDE), for the
    pooled two-proportion test the calculator plans for. Means: users
    resampled, the treatment's values shifted by the MDE (the calculator
    assumes equal spread in both arms).
    """
    rng = np.random.default_rng(seed)
    settings = PowerSettings(power=power)
    out = []
    p = float(population.converted.mean())
    mde = mde_proportion(p, n_per_arm, n_per_arm, settings)
    control = rng.binomial(n_per_arm, p, sims)
    treatment = rng.binomial(n_per_arm, p + mde.absolute, sims)
    detected = np.mean(
        [
            compare_proportions(
                SampleStats(n_per_arm, float(c), float(c)),
                SampleStats(n_per_arm, float(t), float(t)),
            ).absolute.p_value
            < 0.05
            for c, t in zip(control, treatment, strict=True)
        ]
    )
    out.append(
        PowerCheck("conversion", n_per_arm, mde.relative, power, float(detected))
    )
    for metric in ("avg_session_duration", "revenue_per_user"):
        values = population.values(metric)[0]
        mean, sd = float(values.mean()), float(values.std(ddof=1))
        effect = mde_mean(mean, sd, n_per_arm, n_per_arm, settings).absolute
        hits = 0
        for _ in range(sims):
            c = values[rng.integers(0, values.size, n_per_arm)]
            t = values[rng.integers(0, values.size, n_per_arm)] + effect
            result = compare_means(
                SampleStats(n_per_arm, float(c.sum()), float((c * c).sum())),
                SampleStats(n_per_arm, float(t.sum()), float((t * t).sum())),
            )
            hits += result.absolute.p_value < 0.05
        out.append(PowerCheck(metric, n_per_arm, effect / mean, power, hits / sims))
    return out
