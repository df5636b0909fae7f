"""AnalysisSettings from what a person types (API query or command line)."""

from __future__ import annotations

from analysis.metrics import METRICS
from analysis.settings import AnalysisSettings, Correction

CORRECTIONS: tuple[Correction, ...] = ("holm", "benjamini_hochberg")


def analysis_settings(
    *,
    correction: str = "holm",
    family: str | None = None,
    primary: str | None = None,
    winsorize: float | None = None,
    cuped: bool = True,
) -> AnalysisSettings:
    """Raises ValueError with a message naming the choice that is wrong."""
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}")
    metrics = None
    if family:
        metrics = tuple(name.strip() for name in family.split(",") if name.strip())
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"family: unknown metric {unknown[0]!r}")
    if primary is not None and primary not in METRICS:
        raise ValueError(f"primary: unknown metric {primary!r}")
    return AnalysisSettings(
        correction=correction,  # checked above
        family=metrics,
        primary_metric=primary,
        winsorize_percentile=winsorize,
        cuped=cuped,
    )
