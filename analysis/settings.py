"""How an experiment is analysed: one typed record with defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from analysis.metrics import METRICS, SegmentName
from analysis.significance import check_alpha

Correction = Literal["holm", "benjamini_hochberg", "none"]


@dataclass(frozen=True)
class AnalysisSettings:
    """Choices behind a report; the defaults suit most experiments."""

    alpha: float = 0.05
    """Two-sided false positive rate of every test and interval."""
    correction: Correction = "holm"
    """Multiple-testing correction across the family's metrics x treatments."""
    family: tuple[str, ...] | None = None
    """Metrics in the correction family; None for every metric of the experiment."""
    cuped: bool = True
    """Adjust by each user's pre-exposure value when the data has one."""
    cuped_lookback_days: float = 14.0
    """How far before the experiment's start pre-exposure events count."""
    winsorize_percentile: float | None = None
    """Cap revenue and session duration at this pooled percentile (e.g. 0.99)."""
    primary_metric: str | None = None
    """The metric a ship decision rests on; None for the experiment's first."""
    guardrail_margins: Mapping[str, float] = field(default_factory=dict)
    """Non-inferiority margin per guardrail metric, as a relative lift (0.02 =
    2% worse is tolerated); metrics not named here get ``default_margin``."""
    default_margin: float = 0.0
    guardrails: tuple[str, ...] | None = None
    """Guardrail metrics; None for every metric of the experiment but the primary."""
    sequential_tuning: int | None = None
    """Users at which the confidence sequences are tightest; None for the
    experiment's planned sample size."""
    segments: tuple[SegmentName, ...] = ("gender", "age_band")
    """User attributes to break the results down by."""
    srm_threshold: float = 0.001

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        if self.correction not in get_args(Correction):
            raise ValueError(f"unknown correction {self.correction!r}")
        if self.cuped_lookback_days < 0:
            raise ValueError("cuped_lookback_days must not be negative")
        p = self.winsorize_percentile
        if p is not None and not 0.5 <= p < 1.0:
            raise ValueError(f"winsorize_percentile must be in [0.5, 1), got {p}")
        named = [
            *(self.family or ()),
            *(self.guardrails or ()),
            *self.guardrail_margins,
            *([self.primary_metric] if self.primary_metric else []),
        ]
        unknown = [m for m in named if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric {unknown[0]!r}")
        margins = [self.default_margin, *self.guardrail_margins.values()]
        if any(not 0.0 <= m < 1.0 for m in margins):
            raise ValueError("non-inferiority margins must be in [0, 1)")
        bad = [s for s in self.segments if s not in get_args(SegmentName)]
        if bad:
            raise ValueError(f"unknown segment {bad[0]!r}")
        if not 0.0 < self.srm_threshold < 1.0:
            raise ValueError("srm_threshold must be in (0, 1)")

    def margin(self, metric: str) -> float:
        return self.guardrail_margins.get(metric, self.default_margin)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["guardrail_margins"] = dict(self.guardrail_margins)
        for key in ("family", "guardrails", "segments"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data
