"""Recommender types by name: validate experiment parameters and build models.

Parameters come from experiment JSON such as ``{"type": "hybrid", "alpha": 0.7}``;
the caller strips "type" and "name" before calling in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from recommenders.als import ALS, ALSConfig
from recommenders.base import Recommender
from recommenders.collaborative import Collaborative, CollaborativeConfig
from recommenders.content import Content, ContentConfig
from recommenders.hybrid import Hybrid, HybridConfig
from recommenders.popularity import Popularity, PopularityConfig


class InvalidRecommenderConfig(ValueError):
    """An experiment names an unknown recommender type or gives bad parameters."""


RECOMMENDER_TYPES: dict[str, tuple[type[BaseModel], Callable[[Any], Recommender]]] = {
    "popularity": (PopularityConfig, Popularity),
    "content": (ContentConfig, Content),
    "collaborative": (CollaborativeConfig, Collaborative),
    "hybrid": (HybridConfig, Hybrid),
    "als": (ALSConfig, ALS),
}
"""Name -> (config model, recommender class taking that config)."""

PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "hybrid_knn_als": (
        "hybrid",
        {
            "alpha": 0.2,
            "collaborative_model": "user_knn+als",
            "als_weight": 0.5,
            "collaborative": {"neighbours": 50},
            "als": {"factors": 32, "regularization": 20.0, "confidence": 5.0},
        },
    ),
}
"""Named configs: name -> (type, params). hybrid_knn_als is the best config of a
grid searched on the validation split of ml100k-temporal-v1 (alpha, ALS factors,
regularisation and confidence, neighbours, ALS share); NDCG@10 0.172 there."""


def validate(type: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Normalised parameters, every default filled in, ready to store as JSON.

    Raises:
        InvalidRecommenderConfig: naming the field and the rule it breaks.
    """
    return _config(type, params).model_dump(mode="json")


def build(type: str, params: Mapping[str, Any]) -> Recommender:
    """An unfitted recommender of that type with those parameters."""
    config = _config(type, params)
    return RECOMMENDER_TYPES[type][1](config)


def config_key(type: str, params: Mapping[str, Any]) -> str:
    """A stable key for caching fitted models: equal for equivalent parameters."""
    normalised = json.dumps(
        validate(type, params), sort_keys=True, separators=(",", ":")
    )
    return f"{type}:{normalised}"


def _config(type: str, params: Mapping[str, Any]) -> BaseModel:
    if type not in RECOMMENDER_TYPES:
        known = ", ".join(RECOMMENDER_TYPES)
        raise InvalidRecommenderConfig(
            f"unknown recommender type {type!r}; known types: {known}"
        )
    if not isinstance(params, Mapping):
        raise InvalidRecommenderConfig(
            f"parameters of {type} must be an object, not {params!r}"
        )
    model = RECOMMENDER_TYPES[type][0]
    try:
        return model.model_validate(dict(params), strict=True)
    except ValidationError as error:
        messages = [_message(type, model, e) for e in error.errors()]
        raise InvalidRecommenderConfig("; ".join(messages)) from error


def _message(type: str, model: type[BaseModel], error: Any) -> str:
    location = [str(part) for part in error["loc"]]
    name = ".".join(location) or type
    field, owner = _field(model, location)
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(owner.model_fields) if owner else ""
        return f"unknown parameter {name!r} for {type}; allowed: {allowed}"
    if field is not None and kind in _BOUND_ERRORS:
        return f"{name} must be {_bounds(field)}"
    if kind == "literal_error":
        return f"{name} must be one of {error['ctx']['expected']}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{name} must be an integer"
    if kind in ("float_type", "float_parsing"):
        return f"{name} must be a number"
    if kind == "finite_number":
        return f"{name} must be a finite number"
    if kind == "model_type":
        return f"{name} must be an object of parameters"
    return f"{name}: {error['msg']}"


_BOUND_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _field(
    model: type[BaseModel], location: list[str]
) -> tuple[FieldInfo | None, type[BaseModel] | None]:
    """The field at a nested location and the config model that owns it."""
    owner: type[BaseModel] | None = model
    field: FieldInfo | None = None
    for depth, part in enumerate(location):
        if owner is None or part not in owner.model_fields:
            return None, owner if depth == len(location) - 1 else None
        field = owner.model_fields[part]
        annotation = field.annotation
        if depth < len(location) - 1:
            is_model = isinstance(annotation, type) and issubclass(
                annotation, BaseModel
            )
            owner = annotation if is_model else None  # type: ignore[assignment]
    return field, owner


def _bounds(field: FieldInfo) -> str:
    low = high = None
    low_inclusive = high_inclusive = True
    for rule in field.metadata:
        for attribute, is_low, inclusive in (
            ("ge", True, True),
            ("gt", True, False),
            ("le", False, True),
            ("lt", False, False),
        ):
            value = getattr(rule, attribute, None)
            if value is None:
                continue
            if is_low:
                low, low_inclusive = value, inclusive
            else:
                high, high_inclusive = value, inclusive
    if low is not None and high is not None and low_inclusive and high_inclusive:
        return f"between {low} and {high}"
    parts = []
    if low is not None:
        parts.append(f"{'at least' if low_inclusive else 'greater than'} {low}")
    if high is not None:
        parts.append(f"{'at most' if high_inclusive else 'less than'} {high}")
    return " and ".join(parts)
