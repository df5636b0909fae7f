"""The report as text for a terminal."""

from __future__ import annotations

import math

from analysis.report import ALPHA, Report


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
    lines.append("")
    lines.append(f"* p < {ALPHA}; 95% confidence intervals.")
    return "\n".join(lines)
