"""Click commands of the analysis, registered in the ``splitrec`` command.

``power`` plans an experiment: users per arm for a minimum detectable effect,
or the effect detectable with a given number of users, for any allocation.
"""

from __future__ import annotations

import click

from analysis import codes
from analysis.power import (
    DetectableEffect,
    PowerSettings,
    SampleSize,
    mde_mean,
    mde_proportion,
    sample_size_mean,
    sample_size_proportion,
)


def _share(allocation: str) -> float:
    """Treatment share from "50/50", "90/10" (control/treatment) or "0.1"."""
    try:
        if "/" in allocation:
            control, treatment = (float(x) for x in allocation.split("/"))
            share = treatment / (control + treatment)
        else:
            share = float(allocation)
    except (ValueError, ZeroDivisionError) as error:
        raise click.BadParameter(
            f"{allocation!r}: give control/treatment weights (90/10) or the "
            "treatment's share (0.1)",
            param_hint="--allocation",
        ) from error
    if not 0.0 < share < 1.0:
        raise click.BadParameter(
            "the treatment's share must be between 0 and 1",
            param_hint="--allocation",
        )
    return share


def _print_size(size: SampleSize, share: float) -> None:
    click.echo(f"control:   {size.n_control:,} users ({1 - share:.0%})")
    click.echo(f"treatment: {size.n_treatment:,} users ({share:.0%})")
    click.echo(f"total:     {size.n_total:,} users")


def _print_mde(effect: DetectableEffect, baseline: float) -> None:
    if effect.message is not None:
        click.echo(codes.explain(effect.message))
        return
    click.echo(f"minimum detectable effect: {effect.absolute:+.6g} absolute")
    if baseline != 0.0:
        click.echo(f"                           {effect.relative:+.4%} relative")
        click.echo(f"from {baseline:.6g} to {baseline + effect.absolute:.6g}")


@click.command()
@click.option(
    "--metric",
    "kind",
    type=click.Choice(["proportion", "mean"]),
    default="proportion",
    show_default=True,
    help="A conversion rate, or a per-user mean (needs --sd).",
)
@click.option("--baseline", type=float, required=True, help="Control rate or mean.")
@click.option("--sd", type=float, help="Per-user standard deviation (means).")
@click.option("--mde", type=float, help="Effect to detect; omit to get the MDE.")
@click.option(
    "--scale",
    type=click.Choice(["relative", "absolute"]),
    default="relative",
    show_default=True,
    help="How --mde is given: 0.05 relative is +5% of the baseline.",
)
@click.option(
    "--n", "n_total", type=int, help="Total users (both arms), to get the MDE."
)
@click.option(
    "--allocation",
    default="50/50",
    show_default=True,
    help="control/treatment weights, e.g. 90/10, or the treatment's share.",
)
@click.option("--alpha", type=float, default=0.05, show_default=True)
@click.option("--power", "power_", type=float, default=0.8, show_default=True)
def power(
    kind: str,
    baseline: float,
    sd: float | None,
    mde: float | None,
    scale: str,
    n_total: int | None,
    allocation: str,
    alpha: float,
    power_: float,
) -> None:
    """Users per arm to detect --mde, or the MDE detectable with --n users.

    Two-sided normal approximation: the pooled two-proportion z test for rates
    (as statsmodels' samplesize_proportions_2indep_onetail), the z test with a
    common standard deviation for means (as statsmodels' NormalIndPower).
    """
    if (mde is None) == (n_total is None):
        raise click.UsageError("give exactly one of --mde and --n")
    if kind == "mean" and sd is None:
        raise click.UsageError("--metric mean needs --sd")
    share = _share(allocation)
    try:
        settings = PowerSettings(alpha=alpha, power=power_)
        if mde is not None:
            relative = scale == "relative"
            if kind == "proportion":
                size = sample_size_proportion(
                    baseline,
                    mde,
                    "relative" if relative else "absolute",
                    share,
                    settings,
                )
            else:
                assert sd is not None
                size = sample_size_mean(
                    baseline,
                    sd,
                    mde,
                    "relative" if relative else "absolute",
                    share,
                    settings,
                )
            _print_size(size, share)
            return
        assert n_total is not None
        n_treatment = n_total * share
        n_control = n_total - n_treatment
        if kind == "proportion":
            effect = mde_proportion(baseline, n_control, n_treatment, settings)
        else:
            assert sd is not None
            effect = mde_mean(baseline, sd, n_control, n_treatment, settings)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    _print_mde(effect, baseline)
