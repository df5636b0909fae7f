"""`splitrec evaluate`: run protocol ml100k-temporal-v1 on configs from the shell."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from experimentation.movielens import MovieLensError, load
from recommenders import evaluation
from recommenders.evaluation import ModelSpec, Report
from recommenders.metrics import Interval
from recommenders.registry import PRESETS, InvalidRecommenderConfig

DEFAULT_CONFIGS = ("popularity", "content", "collaborative", "hybrid")


def default_data_path() -> Path:
    """SPLITREC_DATA, else ../shared/data/ml-100k beside the working directory."""
    configured = os.environ.get("SPLITREC_DATA")
    if configured:
        return Path(configured)
    return Path.cwd() / ".." / "shared" / "data" / "ml-100k"


def parse_value(text: str) -> Any:
    """A config value from the shell: int, float, true/false, none, else string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text.strip()


def parse_config(text: str) -> ModelSpec:
    """`type` or `type:key=value,key=value`; dotted keys reach nested settings,
    e.g. `hybrid:alpha=0.5,collaborative.neighbours=20`; or a preset name from
    registry.PRESETS, e.g. `hybrid_knn_als`."""
    if text.strip() in PRESETS:
        type_, preset = PRESETS[text.strip()]
        return ModelSpec(name=text.strip(), type=type_, params=copy.deepcopy(preset))
    type_, _, rest = text.partition(":")
    params: dict[str, Any] = {}
    for pair in filter(None, (p.strip() for p in rest.split(","))):
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="config")
        _set(params, key.strip(), parse_value(value))
    return ModelSpec(name=text, type=type_.strip(), params=params)


def _set(params: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        params = params.setdefault(part, {})
        if not isinstance(params, dict):
            raise click.BadParameter(
                f"{dotted} clashes with a value", param_hint="config"
            )
    params[last] = value


def parse_sweep(text: str) -> tuple[str, list[Any]]:
    """`key=v1,v2,...` where `a,b,...,z` fills the arithmetic series from a by
    b - a up to z, e.g. `alpha=0,0.1,...,1`."""
    key, equals, rest = text.partition("=")
    tokens = [t.strip() for t in rest.split(",") if t.strip()]
    if not equals or not key.strip() or not tokens:
        raise click.BadParameter(f"{text!r} is not key=v1,v2,...", param_hint="sweep")
    values: list[Any] = []
    for position, token in enumerate(tokens):
        if token != "...":
            values.append(parse_value(token))
            continue
        if position < 2 or position + 1 >= len(tokens):
            raise click.BadParameter(
                "'...' needs two values before it and one after", param_hint="sweep"
            )
        values.extend(
            _series(tokens[position - 2], tokens[position - 1], tokens[position + 1])
        )
    return key.strip(), values


def _series(first: str, second: str, last: str) -> list[Any]:
    """The values strictly between second and last, stepping by second - first."""
    try:
        a, b, z = Decimal(first), Decimal(second), Decimal(last)
    except InvalidOperation as error:
        raise click.BadParameter("'...' needs numbers", param_hint="sweep") from error
    step = b - a
    if step == 0 or (z - b) * step < 0:
        raise click.BadParameter(
            "'...' needs a step toward the last value", param_hint="sweep"
        )
    series = []
    value = b + step
    while (z - value) * step > 0:
        series.append(parse_value(str(value)))
        value += step
    return series


@click.command("evaluate")
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    default=None,
    help="MovieLens 100K directory or zip [default: $SPLITREC_DATA, else "
    "../shared/data/ml-100k].",
)
@click.option(
    "--config",
    "configs",
    multiple=True,
    help="Recommender to evaluate, e.g. popularity or hybrid:alpha=0.7,fusion=zscore, "
    f"or a preset ({', '.join(PRESETS)}). Repeatable.",
)
@click.option("--baseline", default="popularity", show_default=True)
@click.option(
    "--sweep",
    default=None,
    help="Response curve of the first config over one parameter, "
    "e.g. alpha=0,0.1,...,1.",
)
@click.option(
    "--split",
    type=click.Choice(["test", "validation"]),
    default="test",
    show_default=True,
    help="validation is cut from train by the same rule: tune there.",
)
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
@click.option("--bootstrap", "n_resamples", type=click.IntRange(min=1), default=2000)
@click.option("--seed", type=int, default=0, show_default=True)
def evaluate_command(
    data_path: Path | None,
    configs: tuple[str, ...],
    baseline: str,
    sweep: str | None,
    split: str,
    output: str,
    n_resamples: int,
    seed: int,
) -> None:
    """Evaluate recommenders offline on protocol ml100k-temporal-v1."""
    specs = [parse_config(text) for text in configs or DEFAULT_CONFIGS]
    if sweep is not None:
        key, values = parse_sweep(sweep)
        first = specs[0]
        specs = []
        for value in values:
            params = json.loads(json.dumps(first.params))
            _set(params, key, value)
            specs.append(ModelSpec(f"{first.type} {key}={value}", first.type, params))
    baseline_spec = parse_config(baseline)
    if baseline_spec.name not in {spec.name for spec in specs}:
        specs.insert(0, baseline_spec)
    path = data_path or default_data_path()
    try:
        report = evaluation.evaluate(
            load(path),
            specs,
            baseline=baseline_spec.name,
            split="validation" if split == "validation" else "test",
            n_resamples=n_resamples,
            seed=seed,
        )
    except (InvalidRecommenderConfig, MovieLensError) as error:
        raise click.ClickException(str(error)) from error
    if output == "json":
        click.echo(json.dumps(dataclasses.asdict(report), indent=2))
    else:
        click.echo(format_report(report))


def format_report(report: Report) -> str:
    """The report as a plain-text table, then paired differences vs the baseline."""
    # As wide as the longest name: configs that differ only at the end of a
    # long name must stay tellable apart.
    w = max([28, *(len(m.name) for m in report.models)])
    lines = [
        f"protocol {report.protocol}, {report.split} split, {report.n_users} users, "
        f"k={report.k}, 95% CIs from {report.n_resamples} bootstrap resamples "
        f"(seed {report.seed})",
        "",
        f"{'model':<{w}} {'P@10':<21} {'R@10':<21} {'NDCG@10':<21} "
        f"{'cover':>5} {'genreH':>6} {'novel':>5} {'fallbk':>6} {'ms p50':>6} "
        f"{'alpha':>5} {'c.share':>7}",
    ]
    for model in report.models:
        lines.append(
            f"{model.name:<{w}} {_interval(model.metrics['precision']):<21} "
            f"{_interval(model.metrics['recall']):<21} "
            f"{_interval(model.metrics['ndcg']):<21} "
            f"{model.coverage:>5.3f} {model.metrics['entropy'].mean:>6.2f} "
            f"{model.metrics['novelty'].mean:>5.2f} {model.fallback_users:>6d} "
            f"{model.ms_p50:>6.3f} {_optional(model.alpha, 2):>5} "
            f"{_optional(model.effective_content_share, 3):>7}"
        )
    compared = [m for m in report.models if m.versus_baseline]
    if compared:
        lines += [
            "",
            f"paired difference vs {report.baseline} (* = 95% CI excludes 0)",
            f"{'model':<{w}} {'dP@10':<24} {'dR@10':<24} {'dNDCG@10':<24}",
        ]
        for model in compared:
            cells = [
                _difference(model.versus_baseline[m])
                for m in ("precision", "recall", "ndcg")
            ]
            lines.append(f"{model.name:<{w}} " + " ".join(f"{c:<24}" for c in cells))
    lines += [
        "",
        "c.share: effective content share, the part of the per-user score spread "
        "over the fused top 50 that comes from content (compare with alpha).",
    ]
    return "\n".join(lines)


def _interval(interval: Interval) -> str:
    return f"{interval.mean:.4f} [{interval.low:.3f},{interval.high:.3f}]"


def _difference(interval: Interval) -> str:
    star = "*" if interval.excludes_zero() else " "
    return f"{interval.mean:+.4f} [{interval.low:+.3f},{interval.high:+.3f}]{star}"


def _optional(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


evaluate = evaluate_command
"""The name the `splitrec` group registers."""
