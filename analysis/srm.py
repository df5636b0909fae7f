"""Sample-ratio mismatch: do the arms' user counts fit the design weights?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis import codes


@dataclass(frozen=True)
class SampleRatioCheck:
    """Pearson chi-square goodness of fit of observed counts to design weights.

    ``expected`` holds the expected counts. ``message`` is ``codes.EMPTY_ARM``
    when an arm has no users (the test still runs and almost surely flags it:
    dropping the arm would hide a broken assignment) and ``codes.NO_UNITS``
    when nothing was counted (figures NaN, no flag).
    """

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    p_value: float
    mismatch: bool
    message: str | None = None


def sample_ratio_mismatch(
    observed: Sequence[int], weights: Sequence[float], threshold: float = 0.001
) -> SampleRatioCheck:
    """Chi-square test of observed users per arm against design weights.

    The weights need only be proportional to the design (they are normalised
    here), so 90/10 may be given as (9, 1). Give them as designed, not rounded:
    with millions of users a weight rounded to 3 digits is itself a mismatch.
    """
    counts = np.asarray(observed, dtype=np.int64)
    shares = np.asarray(weights, dtype=np.float64)
    if counts.ndim != 1 or counts.shape != shares.shape or counts.size < 2:
        raise ValueError("observed and weights need the same length, at least 2")
    if np.any(counts < 0) or np.any(shares <= 0) or not np.all(np.isfinite(shares)):
        raise ValueError("counts must be >= 0 and weights finite and > 0")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    total = int(counts.sum())
    expected = total * shares / shares.sum()
    observed_tuple = tuple(int(c) for c in counts)
    if total == 0:
        nan = float("nan")
        return SampleRatioCheck(
            observed_tuple, tuple(expected.tolist()), nan, nan, False, codes.NO_UNITS
        )
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    p_value = float(stats.chi2.sf(chi2, counts.size - 1))
    message = codes.EMPTY_ARM if np.any(counts == 0) else None
    return SampleRatioCheck(
        observed_tuple,
        tuple(expected.tolist()),
        chi2,
        p_value,
        p_value < threshold,
        message,
    )
