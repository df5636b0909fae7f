from __future__ import annotations

import pytest

from analysis.settings import AnalysisSettings


def test_settings_defaults() -> None:
    settings = AnalysisSettings()
    assert settings.correction == "holm"
    assert settings.cuped is True
    assert settings.winsorize_percentile is None
    assert settings.margin("conversion") == 0.0
    assert settings.to_dict()["segments"] == ["gender", "age_band"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 1.5},
        {"correction": "sidak"},
        {"winsorize_percentile": 1.0},
        {"primary_metric": "ctr"},
        {"family": ("conversion", "nope")},
        {"guardrail_margins": {"conversion": -0.1}},
        {"segments": ("country",)},
        {"cuped_lookback_days": -1},
    ],
)
def test_settings_reject_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        AnalysisSettings(**kwargs)  # type: ignore[arg-type]
