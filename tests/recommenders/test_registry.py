from __future__ import annotations

from typing import Any

import pytest

from recommenders.hybrid import Hybrid
from recommenders.registry import (
    RECOMMENDER_TYPES,
    InvalidRecommenderConfig,
    build,
    config_key,
    validate,
)


def test_recommender_types_names() -> None:
    assert set(RECOMMENDER_TYPES) == {
        "popularity",
        "content",
        "collaborative",
        "hybrid",
        "als",
    }


@pytest.mark.parametrize(
    ("type_", "params", "message"),
    [
        ("hybrid", {"alpha": 1.5}, "alpha must be between 0 and 1"),
        ("hybrid", {"alpha": -0.1}, "alpha must be between 0 and 1"),
        ("hybrid", {"alpha": "0.7"}, "alpha must be a number"),
        ("hybrid", {"alpha": True}, "alpha must be a number"),
        ("hybrid", {"alpha": float("nan")}, "alpha must be a finite number"),
        ("hybrid", {"fusion": "max"}, "fusion must be one of 'zscore'"),
        ("hybrid", {"beta": 1}, "unknown parameter 'beta' for hybrid; allowed: alpha"),
        (
            "hybrid",
            {"collaborative": {"neighbours": 0}},
            "collaborative.neighbours must be between 1 and 1000",
        ),
        ("collaborative", {"neighbours": 2.5}, "neighbours must be an integer"),
        ("popularity", {"half_life_days": 0}, "half_life_days must be between 0.01"),
        ("content", {"similarity": "jaccard"}, "similarity must be one of 'cosine'"),
    ],
)
def test_validate_rejects_with_field_and_rule(
    type_: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRecommenderConfig, match=message.replace("(", r"\(")):
        validate(type_, params)


def test_validate_unknown_type_lists_known_types() -> None:
    with pytest.raises(InvalidRecommenderConfig) as raised:
        validate("knn", {})
    assert "popularity, content, collaborative, hybrid, als" in str(raised.value)


def test_validate_fills_defaults() -> None:
    params = validate("hybrid", {"alpha": 1})
    assert params["alpha"] == 1.0
    assert params["fusion"] == "zscore"
    assert params["collaborative"]["neighbours"] == 30


def test_build_returns_unfitted_model_of_the_type() -> None:
    model = build("hybrid", {"alpha": 0.5, "collaborative": {"neighbours": 10}})
    assert isinstance(model, Hybrid)
    assert model.config.alpha == 0.5
    assert model.collaborative.config.neighbours == 10


def test_config_key_equal_for_equivalent_params() -> None:
    assert config_key("hybrid", {}) == config_key("hybrid", {"alpha": 0.7})
    assert config_key("hybrid", {"alpha": 0.5}) != config_key("hybrid", {})
    assert config_key("hybrid", {}).startswith("hybrid:")


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("als", {"seed": -1}, "seed"),
        ("collaborative", {"seed": -5}, "seed"),
        ("als", {"regularization": 1e308}, "regularization"),
        ("als", {"confidence": 1e308}, "confidence"),
        ("popularity", {"half_life_days": 1e-300}, "half_life_days"),
    ],
)
def test_registry_refuses_params_that_would_fail_at_serving(
    kind: str, params: dict[str, object], field: str
) -> None:
    """Guards against a config that validates but breaks every request (or
    serves empty lists) once the experiment runs."""
    with pytest.raises(InvalidRecommenderConfig, match=field):
        validate(kind, params)
