"""The experiment definition as growth teams write it (API body, JSON or YAML file).

Accepted as-is:
    {"id": "rec-algorithm-v2",
     "variants": {"control": {"type": "popularity", "name": "Most Popular"},
                  "treatment": {"type": "hybrid", "alpha": 0.7, "name": "Hybrid V2"}},
     "metrics": ["click_through_rate", "conversion"],
     "sampleSize": 10000, "minimumDuration": "7d"}
Weights are equal unless `weights` maps variant keys to numbers (any scale).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from analysis.metrics import METRICS
from experimentation.durations import parse_duration
from experimentation.events import NO_NUL
from recommenders import registry

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_KEY = re.compile(KEY_PATTERN)
MAX_VARIANTS = 10
MAX_WEIGHT = 1_000_000


class VariantSpec(BaseModel):
    """One arm: a recommender type, a display name, and the recommender's parameters."""

    model_config = ConfigDict(extra="allow")

    type: str
    name: str = Field(default="", max_length=256, pattern=NO_NUL)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ExperimentSpec(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    key: str = Field(alias="id", pattern=KEY_PATTERN)
    name: str = Field(default="", max_length=256, pattern=NO_NUL)
    hypothesis: str = Field(default="", max_length=10_000, pattern=NO_NUL)
    variants: dict[str, VariantSpec]
    weights: dict[str, float] | None = None
    metrics: list[str] = Field(min_length=1)
    sample_size: int = Field(alias="sampleSize", gt=0, le=1_000_000_000)
    minimum_duration: str = Field(alias="minimumDuration")
    salt: str | None = Field(default=None, min_length=1, max_length=64)
    traffic: float = Field(default=1.0, gt=0, le=1)
    """Share of users enrolled; the rest get the control's list, unlogged."""

    @field_validator("variants")
    @classmethod
    def _check_variants(
        cls, variants: dict[str, VariantSpec]
    ) -> dict[str, VariantSpec]:
        if not 2 <= len(variants) <= MAX_VARIANTS:
            raise ValueError(f"an experiment needs 2 to {MAX_VARIANTS} variants")
        for key, variant in variants.items():
            if not _KEY.fullmatch(key):
                raise ValueError(
                    f"variant key {key!r} must be letters, digits, '.', '_' or '-'"
                )
            try:
                registry.validate(variant.type, variant.params)
            except ValueError as error:
                raise ValueError(f"variant {key!r}: {error}") from error
        return variants

    @field_validator("metrics")
    @classmethod
    def _check_metrics(cls, metrics: list[str]) -> list[str]:
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(
                f"unknown metric {unknown[0]!r}; known: {', '.join(sorted(METRICS))}"
            )
        if len(set(metrics)) != len(metrics):
            raise ValueError("a metric is listed twice")
        return metrics

    @field_validator("minimum_duration")
    @classmethod
    def _check_duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _check_weights(self) -> ExperimentSpec:
        if self.weights is None:
            return self
        if set(self.weights) != set(self.variants):
            raise ValueError("weights must name exactly the variants")
        if any(not 0 < w <= MAX_WEIGHT for w in self.weights.values()):
            raise ValueError(
                f"each weight must be more than 0 and at most {MAX_WEIGHT:,}"
            )
        return self

    @property
    def minimum_duration_seconds(self) -> int:
        return parse_duration(self.minimum_duration)

    def variant_shares(self) -> dict[str, float]:
        """Each variant's share of traffic, summing to 1."""
        raw = self.weights or {key: 1.0 for key in self.variants}
        total = sum(raw.values())
        return {key: raw[key] / total for key in self.variants}
