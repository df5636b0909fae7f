"""The report as text for a terminal."""

from __future__ import annotations

import math

from analysis.readout import Readout
from analysis.report import ALPHA, Report, SegmentResult


def _num(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}g}" if math.isfinite(x) else "n/a"


def _pct(x: float) -> str:
    return f"{x:+.2%}" if math.isfinite(x) else "n/a"


def render_text(report: Report) -> str:
    lines = [
        f"{report.name} ({report.experiment}) · {report.status} · "
        f"result: {report.label.upper()}",
        report.progress.describe(),
        f"sample-ratio check: users {list(report.srm.observed)}, "
        f"expected {[round(e) for e in report.srm.expected]}, "
        f"p = {_num(report.srm.p_value, 3)}"
        + (" MISMATCH" if report.srm.mismatch else ""),
        f"users exposed to more than one variant, left out: {report.excluded_users:,}",
    ]
    lines += [f"! {w}" for w in report.warnings]
    marker = "" if report.final else " (interim)"
    for m in report.metrics:
        lines.append("")
        lines.append(f"{m.metric.label}{marker} [{m.metric.unit}]")
        for v in m.values:
            c = m.comparisons.get(v.key)
            row = f"  {v.key:<12} n={v.n:>8,}  value={_num(v.value):>10}"
            if c is None:
                row += "  (control)"
            else:
                sig = (
                    "*"
                    if math.isfinite(c.absolute.p_value) and c.absolute.p_value < ALPHA
                    else " "
                )
                row += (
                    f"  lift {_pct(c.relative.estimate)} "
                    f"[{_pct(c.relative.ci_low)}, {_pct(c.relative.ci_high)}]"
                    f"  abs {_num(c.absolute.estimate)} "
                    f"[{_num(c.absolute.ci_low)}, {_num(c.absolute.ci_high)}]"
                    f"  p={_num(c.absolute.p_value, 3)}{sig}"
                )
            lines.append(row)
            readout = m.readouts.get(v.key)
            if readout is not None:
                lines += _readout_lines(readout)
    lines += _decision_lines(report)
    lines += _segment_lines(report.segments)
    lines.append("")
    lines.append(
        f"* p < {ALPHA}; 95% confidence intervals. adj: {report.settings.correction} "
        "across the family; seq: always-valid confidence sequence."
    )
    return "\n".join(lines)


def _readout_lines(r: Readout) -> list[str]:
    rel = r.corrected_relative
    seq = r.sequential.relative
    lines = [
        f"{'':16}adj p={_num(r.p_value_adjusted, 3)} "
        f"[{_pct(rel.ci_low)}, {_pct(rel.ci_high)}]"
        f"  seq p={_num(r.sequential.absolute.p_value, 3)} "
        f"[{_pct(seq.ci_low)}, {_pct(seq.ci_high)}]"
        f"  chance better {_num(100 * r.chance_better, 3)}%"
    ]
    if r.cuped is not None:
        if r.cuped.applied:
            lines.append(
                f"{'':16}CUPED: variance reduced by "
                f"{r.cuped.variance_reduction:.1%} (theta {_num(r.cuped.theta)})"
            )
        else:
            lines.append(f"{'':16}CUPED: not applied (no pre-exposure variation)")
    return lines


def _decision_lines(report: Report) -> list[str]:
    d = report.decision
    if d is None:
        return []
    name = d.decision.replace("_", " ").upper()
    lines = ["", f"Decision: {name}" + (f" {d.treatment}" if d.treatment else "")]
    lines.append(
        f"  primary: {report.primary_metric}; guardrails: "
        + (
            ", ".join(
                f"{g.metric.name} (margin {g.margin:.1%})" for g in report.guardrails
            )
            or "none"
        )
    )
    lines += [f"  - {reason}" for reason in d.reasons]
    return lines


def _segment_lines(segments: list[SegmentResult]) -> list[str]:
    if not segments:
        return []
    lines = ["", "Segments (unadjusted, for exploration):"]
    for s in segments:
        parts = []
        for m in s.metrics:
            for key, c in m.comparisons.items():
                parts.append(
                    f"{m.metric.name}[{key}] {_pct(c.relative.estimate)} "
                    f"p={_num(c.absolute.p_value, 2)}"
                )
        lines.append(f"  {s.dimension}={s.value} (n={s.users:,}): " + "; ".join(parts))
    return lines
