"""The report as JSON-ready data: the keys the API and ``splitrec report`` serve."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from analysis import codes
from analysis.readout import Readout, significant
from analysis.significance import Comparison, Effect

if TYPE_CHECKING:
    from analysis.report import MetricResult, Report, SegmentResult


def _number(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def _effect(e: Effect) -> dict[str, Any]:
    return {
        "estimate": _number(e.estimate),
        "ci95": [_number(e.ci_low), _number(e.ci_high)],
        "p_value": _number(e.p_value),
    }


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data, metrics under their names."""
    return {
        "experiment": report.experiment,
        "name": report.name,
        "status": report.status,
        "result": report.label,
        "control": report.control,
        "window_end": report.window_end.isoformat(),
        "progress": report.progress.to_dict(),
        "sample_ratio_mismatch": {
            "observed": list(report.srm.observed),
            "expected": [round(e, 3) for e in report.srm.expected],
            "p_value": _number(report.srm.p_value),
            "mismatch": report.srm.mismatch,
            "threshold": report.settings.srm_threshold,
        },
        "excluded_users": report.excluded_users,
        "warnings": report.warnings,
        "metrics": {
            m.metric.name: _metric_dict(m, report.settings.alpha)
            for m in report.metrics
        },
        "decision": _decision_dict(report),
        "winsorization": (
            {
                "percentile": report.settings.winsorize_percentile,
                "caps": dict(report.caps),
            }
            if report.settings.winsorize_percentile is not None
            else None
        ),
        "segments": [_segment_dict(s, report.settings.alpha) for s in report.segments],
        "analysis_settings": report.settings.to_dict(),
    }


def _decision_dict(report: Report) -> dict[str, Any] | None:
    d = report.decision
    if d is None:
        return None
    return {
        "decision": d.decision,
        "treatment": d.treatment,
        "reasons": list(d.reasons),
        "per_treatment": dict(d.per_treatment),
        "primary_metric": report.primary_metric,
        "guardrails": {g.metric.name: {"margin": g.margin} for g in report.guardrails},
    }


def _metric_dict(result: MetricResult, alpha: float) -> dict[str, Any]:
    return {
        "label": result.metric.label,
        "kind": result.metric.kind,
        "unit": result.metric.unit,
        "higher_is_better": result.metric.higher_is_better,
        "variants": {
            v.key: {"name": v.name, "n": v.n, "value": _number(v.value)}
            for v in result.values
        },
        "comparisons": {
            key: _comparison_dict(c, result.readouts.get(key), alpha)
            for key, c in result.comparisons.items()
        },
    }


def _comparison_dict(
    c: Comparison, readout: Readout | None, alpha: float
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "method": c.method,
        "absolute_lift": _effect(c.absolute),
        "relative_lift": _effect(c.relative),
        "p_value": _number(c.absolute.p_value),
        "significant": significant(c.absolute, alpha),
        "message": codes.explain(c.message) if c.message else None,
    }
    if readout is None:
        return out
    cuped = readout.cuped
    out.update(
        {
            "p_value_adjusted": _number(readout.p_value_adjusted),
            "significant_adjusted": significant(readout.corrected_absolute, alpha),
            "in_correction_family": readout.in_family,
            "adjusted": {
                "absolute_lift": _effect(readout.corrected_absolute),
                "relative_lift": _effect(readout.corrected_relative),
            },
            "sequential": {
                "absolute_lift": _effect(readout.sequential.absolute),
                "relative_lift": _effect(readout.sequential.relative),
                "significant": significant(readout.sequential.absolute, alpha),
                "adjusted": _sequential_adjusted(readout, alpha),
            },
            "unadjusted": {
                "method": readout.unadjusted.method,
                "absolute_lift": _effect(readout.unadjusted.absolute),
                "relative_lift": _effect(readout.unadjusted.relative),
            },
            "cuped": None
            if cuped is None
            else {
                "applied": cuped.applied,
                "variance_reduction": _number(cuped.variance_reduction),
                "theta": _number(cuped.theta),
                "correlation": _number(cuped.correlation),
                "message": codes.explain(cuped.message) if cuped.message else None,
            },
            "chance_to_beat_control": _number(readout.chance_better),
        }
    )
    return out


def _sequential_adjusted(readout: Readout, alpha: float) -> dict[str, Any] | None:
    """The confidence sequences at alpha split over the family (Bonferroni)."""
    corrected = readout.sequential_corrected
    if corrected is None:
        return None
    return {
        "absolute_lift": _effect(corrected.absolute),
        "relative_lift": _effect(corrected.relative),
        "significant": significant(corrected.absolute, alpha),
    }


def _segment_dict(segment: SegmentResult, alpha: float) -> dict[str, Any]:
    return {
        "dimension": segment.dimension,
        "value": segment.value,
        "users": segment.users,
        "metrics": {m.metric.name: _metric_dict(m, alpha) for m in segment.metrics},
    }
