"""Frozen per-variant counts (sufficient statistics) that every analysis starts from.

Variances use the n - 1 denominator. Sums of squares come from SQL aggregates, so
rounding can leave a variance a hair below zero; it is clipped to zero.
"""

from __future__ import annotations

from dataclasses import dataclass


def _check_n(n: int) -> None:
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")


def _sample_variance(n: int, total: float, total_squares: float) -> float:
    if n < 2:
        return 0.0
    return max(0.0, (total_squares - total * total / n) / (n - 1))


def _sample_covariance(n: int, sum_x: float, sum_y: float, cross_sum: float) -> float:
    if n < 2:
        return 0.0
    return (cross_sum - sum_x * sum_y / n) / (n - 1)


@dataclass(frozen=True)
class SampleStats:
    """A per-user metric in one arm: revenue, duration, or 0/1 conversion.

    For 0/1 data ``sum`` is the number of converters and ``sum_squares == sum``.
    """

    n: int
    sum: float
    sum_squares: float

    def __post_init__(self) -> None:
        _check_n(self.n)

    @property
    def mean(self) -> float:
        """Mean per user; NaN when the arm is empty."""
        return self.sum / self.n if self.n > 0 else float("nan")

    @property
    def variance(self) -> float:
        """Sample variance with n - 1; 0 when n < 2."""
        return _sample_variance(self.n, self.sum, self.sum_squares)


@dataclass(frozen=True)
class RatioStats:
    """A ratio metric randomised by user, e.g. CTR = clicks / impressions.

    Each user contributes one numerator and one denominator value; the sums run
    over users, and ``cross_sum`` is the sum of numerator * denominator.
    """

    n: int
    numerator_sum: float
    numerator_sum_squares: float
    denominator_sum: float
    denominator_sum_squares: float
    cross_sum: float

    def __post_init__(self) -> None:
        _check_n(self.n)

    @property
    def ratio(self) -> float:
        """Total numerator over total denominator; NaN when the denominator is 0."""
        if self.denominator_sum == 0:
            return float("nan")
        return self.numerator_sum / self.denominator_sum

    @property
    def numerator(self) -> SampleStats:
        return SampleStats(self.n, self.numerator_sum, self.numerator_sum_squares)

    @property
    def denominator(self) -> SampleStats:
        return SampleStats(self.n, self.denominator_sum, self.denominator_sum_squares)

    @property
    def covariance(self) -> float:
        """Sample covariance of numerator and denominator per user (n - 1)."""
        return _sample_covariance(
            self.n, self.numerator_sum, self.denominator_sum, self.cross_sum
        )


@dataclass(frozen=True)
class CovariateStats:
    """A per-user metric with a pre-exposure covariate, for CUPED.

    ``sum`` and ``sum_squares`` are of the metric after exposure, ``pre_sum`` and
    ``pre_sum_squares`` of the covariate, and ``cross_sum`` of their product.
    """

    n: int
    sum: float
    sum_squares: float
    pre_sum: float
    pre_sum_squares: float
    cross_sum: float

    def __post_init__(self) -> None:
        _check_n(self.n)

    @property
    def post(self) -> SampleStats:
        return SampleStats(self.n, self.sum, self.sum_squares)

    @property
    def pre(self) -> SampleStats:
        return SampleStats(self.n, self.pre_sum, self.pre_sum_squares)

    @property
    def covariance(self) -> float:
        """Sample covariance of metric and covariate per user (n - 1)."""
        return _sample_covariance(self.n, self.sum, self.pre_sum, self.cross_sum)


@dataclass(frozen=True)
class RatioCovariateStats:
    """A ratio metric with the same ratio measured before exposure, for CUPED.

    Each user contributes four values: the numerator and denominator after
    exposure, then before it. ``sums[i]`` is the sum of value i over users and
    ``products[i][j]`` the sum of value i times value j (a symmetric 4 x 4).
    """

    n: int
    sums: tuple[float, float, float, float]
    products: tuple[tuple[float, float, float, float], ...]

    def __post_init__(self) -> None:
        _check_n(self.n)
        if len(self.products) != 4 or any(len(row) != 4 for row in self.products):
            raise ValueError("products must be a 4 x 4 matrix")

    @property
    def post(self) -> RatioStats:
        s, p = self.sums, self.products
        return RatioStats(self.n, s[0], p[0][0], s[1], p[1][1], p[0][1])

    @property
    def pre(self) -> RatioStats:
        s, p = self.sums, self.products
        return RatioStats(self.n, s[2], p[2][2], s[3], p[3][3], p[2][3])

    def covariance(self, i: int, j: int) -> float:
        """Sample covariance of values i and j per user (n - 1)."""
        return _sample_covariance(
            self.n, self.sums[i], self.sums[j], self.products[i][j]
        )
