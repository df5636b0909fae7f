"""The experiment form: its fields, parsed into an ExperimentSpec, with a message
next to each field that is wrong; and the sample-size calculator inside it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from analysis.metrics import METRICS
from analysis.power import PowerSettings, sample_size_mean, sample_size_proportion
from experimentation.durations import format_duration
from experimentation.models import Experiment
from experimentation.spec import ExperimentSpec
from recommenders import registry

MIN_ROWS = 2
MAX_ROWS = 10
# Spec field (pydantic alias) -> form field the message goes next to.
_FIELD_OF = {
    "id": "key",
    "name": "name",
    "hypothesis": "hypothesis",
    "variants": "variants",
    "weights": "weights",
    "metrics": "metrics",
    "sampleSize": "sample_size",
    "minimumDuration": "minimum_duration",
}


@dataclass
class VariantRow:
    key: str = ""
    name: str = ""
    weight: str = ""
    type: str = "popularity"
    params: str = ""

    @property
    def blank(self) -> bool:
        return not (self.key or self.name or self.weight or self.params)


@dataclass
class Calculator:
    kind: str = "proportion"
    baseline: str = ""
    sd: str = ""
    mde: str = "5"
    alpha: str = "0.05"
    power: str = "0.8"
    share: str = "50"


@dataclass
class CalcResult:
    n_control: int
    n_treatment: int
    total: int
    variants: int
    days: int | None
    daily_users: float


@dataclass
class ExperimentForm:
    key: str = ""
    name: str = ""
    hypothesis: str = ""
    variants: list[VariantRow] = field(default_factory=list)
    primary: str = "click_through_rate"
    guardrails: list[str] = field(default_factory=list)
    sample_size: str = "10000"
    minimum_duration: str = "7d"
    calc: Calculator = field(default_factory=Calculator)

    @classmethod
    def blank(cls) -> ExperimentForm:
        return cls(
            variants=[
                VariantRow("control", "Control", "50", "popularity"),
                VariantRow("treatment", "Treatment", "50", "hybrid", "alpha=0.7"),
            ]
        )

    @classmethod
    def parse(cls, form: FormData) -> ExperimentForm:
        def text(name: str, default: str = "") -> str:
            value = form.get(name, default)
            return value.strip() if isinstance(value, str) else default

        def column(name: str) -> list[str]:
            return [v.strip() if isinstance(v, str) else "" for v in form.getlist(name)]

        keys, names, weights = (
            column("variant_key"),
            column("variant_name"),
            column("variant_weight"),
        )
        types, params = column("variant_type"), column("variant_params")
        count = min(max(len(keys), len(types)), MAX_ROWS)

        def at(values: list[str], i: int, default: str = "") -> str:
            return values[i] if i < len(values) else default

        rows = [
            VariantRow(
                at(keys, i),
                at(names, i),
                at(weights, i),
                at(types, i, "popularity"),
                at(params, i),
            )
            for i in range(count)
        ]
        return cls(
            key=text("key"),
            name=text("name"),
            hypothesis=text("hypothesis"),
            variants=rows,
            primary=text("primary"),
            guardrails=[g for g in column("guardrails") if g],
            sample_size=text("sample_size"),
            minimum_duration=text("minimum_duration"),
            calc=Calculator(
                kind=text("calc_kind", "proportion"),
                baseline=text("calc_baseline"),
                sd=text("calc_sd"),
                mde=text("calc_mde"),
                alpha=text("calc_alpha"),
                power=text("calc_power"),
                share=text("calc_share"),
            ),
        )

    @classmethod
    def of(cls, experiment: Experiment) -> ExperimentForm:
        metrics = list(experiment.metrics)
        return cls(
            key=experiment.key,
            name=experiment.name,
            hypothesis=experiment.hypothesis,
            variants=[
                VariantRow(
                    v.key,
                    v.name,
                    f"{v.weight * 100:g}",
                    v.recommender,
                    _params_text(v.params),
                )
                for v in experiment.variants
            ],
            primary=metrics[0] if metrics else "",
            guardrails=metrics[1:],
            sample_size=str(experiment.sample_size),
            minimum_duration=format_duration(experiment.minimum_duration_seconds),
        )

    def padded(self) -> list[VariantRow]:
        """The rows to show: at least MIN_ROWS."""
        rows = list(self.variants)
        while len(rows) < MIN_ROWS:
            rows.append(VariantRow())
        return rows


def _params_text(params: dict[str, Any]) -> str:
    if any(isinstance(v, dict | list) for v in params.values()):
        return json.dumps(params)
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in params.items())


def parse_params(text: str) -> dict[str, Any]:
    """`alpha=0.7, share_depth=50` or a JSON object; values read as JSON if they can."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not valid JSON: {error.msg}") from error
        if not isinstance(value, dict):
            raise ValueError("parameters must be an object")
        return value
    params: dict[str, Any] = {}
    for part in text.replace("\n", ",").split(","):
        if not part.strip():
            continue
        name, sep, raw = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"write parameters as name=value, not {part.strip()!r}")
        try:
            params[name.strip()] = json.loads(raw.strip())
        except json.JSONDecodeError:
            params[name.strip()] = raw.strip()
    return params


def to_spec(
    form: ExperimentForm,
) -> tuple[ExperimentSpec | None, dict[str, str], dict[str, Any]]:
    """The spec the form describes, or messages keyed by form field."""
    errors: dict[str, str] = {}
    rows = [(i, r) for i, r in enumerate(form.variants) if not r.blank]
    variants: dict[str, dict[str, Any]] = {}
    weights: dict[str, float] = {}
    for i, row in rows:
        if not row.key:
            errors[f"variant-{i}-key"] = "a variant needs a key"
            continue
        if row.key in variants:
            errors[f"variant-{i}-key"] = f"duplicate variant key {row.key!r}"
            continue
        if row.type not in registry.RECOMMENDER_TYPES:
            errors[f"variant-{i}-type"] = f"unknown recommender {row.type!r}"
        try:
            params = parse_params(row.params)
        except ValueError as error:
            errors[f"variant-{i}-params"] = str(error)
            params = {}
        else:
            if row.type in registry.RECOMMENDER_TYPES:
                try:
                    registry.validate(row.type, params)
                except ValueError as error:
                    errors[f"variant-{i}-params"] = str(error)
        reserved = {"type", "name"} & set(params)
        if reserved:
            errors[f"variant-{i}-params"] = (
                f"{sorted(reserved)[0]!r} is not a parameter"
            )
        variants[row.key] = {"type": row.type, "name": row.name, **params}
        try:
            weight = float(row.weight)
        except ValueError:
            errors[f"variant-{i}-weight"] = "weight must be a number (percent)"
            continue
        if not (math.isfinite(weight) and 0 <= weight <= 100):
            errors[f"variant-{i}-weight"] = "weight must be between 0 and 100"
            continue
        weights[row.key] = weight
    if len(rows) < 2:
        errors["variants"] = "an experiment needs at least 2 variants"
    elif len(weights) == len(rows):
        total = sum(weights.values())
        if abs(total - 100.0) > 0.01:
            errors["weights"] = (
                f"weights add up to {total:g}%; they must add up to 100%"
            )
    if form.primary not in METRICS:
        errors["metrics"] = "choose a primary metric"
    metrics = [form.primary] + [g for g in form.guardrails if g != form.primary]
    sample_size: Any = form.sample_size
    try:
        sample_size = int(form.sample_size)
    except ValueError:
        errors["sample_size"] = "sample size must be a whole number of users"
    data: dict[str, Any] = {
        "id": form.key,
        "name": form.name,
        "hypothesis": form.hypothesis,
        "variants": variants,
        "weights": weights,
        "metrics": metrics,
        "sampleSize": sample_size,
        "minimumDuration": form.minimum_duration,
    }
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as error:
        for problem in error.errors():
            loc = problem.get("loc") or ("form",)
            where = _FIELD_OF.get(str(loc[0]), "form")
            message = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
            if where == "variants" and any(k.startswith("variant-") for k in errors):
                continue  # already said next to the variant's own field
            errors.setdefault(where, message)
        return None, errors, data
    if errors:
        return None, errors, data
    return spec, errors, data


def calculate(
    calc: Calculator, *, variants: int, daily_users: float
) -> tuple[CalcResult | None, dict[str, str]]:
    """Users per variant for the planned test (analysis/power.py), and days."""
    errors: dict[str, str] = {}

    def number(name: str, raw: str, low: float, high: float, label: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            errors[f"calc_{name}"] = f"{label} must be a number"
            return math.nan
        if not (math.isfinite(value) and low < value < high):
            errors[f"calc_{name}"] = f"{label} must be between {low:g} and {high:g}"
        return value

    is_rate = calc.kind != "mean"
    if is_rate:
        baseline = number("baseline", calc.baseline, 0, 100, "baseline rate (%)") / 100
    else:
        baseline = number("baseline", calc.baseline, -1e12, 1e12, "baseline mean")
        sd = number("sd", calc.sd, 0, 1e12, "standard deviation")
    mde = number("mde", calc.mde, 0, 1000, "minimum detectable effect (%)") / 100
    alpha = number("alpha", calc.alpha, 0, 1, "alpha")
    power = number("power", calc.power, 0, 1, "power")
    share = number("share", calc.share, 0, 100, "treatment share (%)") / 100
    if errors:
        return None, errors
    settings = PowerSettings(alpha=alpha, power=power)
    try:
        if is_rate:
            size = sample_size_proportion(
                baseline, mde, share_treatment=share, settings=settings
            )
        else:
            size = sample_size_mean(
                baseline, sd, mde, share_treatment=share, settings=settings
            )
    except ValueError as error:
        return None, {"calc_mde": str(error)}
    arms = max(2, variants)
    total = size.n_control + size.n_treatment * (arms - 1)
    days = math.ceil(total / daily_users) if daily_users > 0 else None
    return (
        CalcResult(size.n_control, size.n_treatment, total, arms, days, daily_users),
        {},
    )
