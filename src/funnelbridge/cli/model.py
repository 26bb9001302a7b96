"""CLI commands: model train, model score, model explain (predictive lead scoring, from the store or a CSV)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from funnelbridge.cli.app import console, err_console, state

if TYPE_CHECKING:
    from funnelbridge.scoring.predictive import ExplainOutcome
    from funnelbridge.scoring.predictive.explain import Explanation
    from funnelbridge.scoring.predictive.report import TrainingReport, ValidationMetrics

__all__ = ["register"]

model_app = typer.Typer(help="Predictive lead scoring: train a model, explain its scores.", no_args_is_help=True)

ModelsDir = Annotated[
    Path,
    typer.Option("--models-dir", envvar="FUNNELBRIDGE_MODELS_DIR", help="Directory of saved model versions."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _fmt(value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _metrics_table(model: ValidationMetrics, rule: ValidationMetrics | None) -> Table:
    table = Table(title="Validation")
    table.add_column("metric")
    table.add_column("model", justify="right")
    if rule is not None:
        table.add_column("rule score", justify="right")
    for key in ("roc_auc", "pr_auc", "log_loss", "n_train", "n_validation"):
        cells = [_fmt(getattr(model, key))] + ([_fmt(getattr(rule, key))] if rule is not None else [])
        table.add_row(key, *cells)
    return table


def _calibration_table(report: TrainingReport) -> Table:
    ece = _fmt(report.expected_calibration_error)
    table = Table(title=f"Calibration ({report.calibration_method}; expected calibration error {ece})")
    for name in ("predicted", "n", "mean predicted", "observed"):
        table.add_column(name, justify="right")
    for row in report.calibration:
        span = f"{row.lower:.1f}–{row.upper:.1f}"
        table.add_row(span, str(row.n), _pct(row.mean_predicted), _pct(row.observed_rate))
    return table


def _lift_table(report: TrainingReport) -> Table:
    table = Table(title="Lift and capture by decile (1 = top-scored 10 %)")
    for name in ("decile", "n", "positives", "rate", "lift", "capture"):
        table.add_column(name, justify="right")
    rule = report.rule_lift_by_decile
    if rule is not None:
        table.add_column("rule lift", justify="right")
    for i, row in enumerate(report.lift_by_decile):
        cells = [str(row.decile), str(row.n), str(row.positives), _pct(row.rate), _fmt(row.lift, 2)]
        cells.append(_pct(row.cumulative_capture))
        if rule is not None:
            cells.append(_fmt(rule[i].lift, 2))
        table.add_row(*cells)
    return table


def _render_summary(report: TrainingReport, path: Path) -> None:
    target, split = report.target, report.split
    console.print(f"model [bold]{report.model_version}[/] ({report.backend}) saved to {path}")
    negative = f", negative {target.negative!r}" if target.negative is not None else ""
    console.print(escape(f"target {target.column!r}: positive {target.positive!r} ({target.rule}){negative}"))
    aside = f"{target.n_blank} rows without an outcome set aside"
    if split.n_unparseable_time:
        aside += f", {split.n_unparseable_time} rows with an unreadable {split.time_column} set aside"
    how = (
        f"latest 25% by {split.time_column} (from {split.validation_from})"
        if split.mode == "time"
        else f"stratified random 25% (seed {split.seed})"
    )
    console.print(escape(f"validation: {how}; {aside}"))
    console.print(escape(f"features: {', '.join(report.features)}"))
    for dropped in report.dropped_columns:
        console.print(escape(f"  not used: {dropped.name} — {dropped.reason}"), highlight=False)


def _render_report(report: TrainingReport, path: Path) -> None:
    _render_summary(report, path)
    console.print(_metrics_table(report.validation, report.rule_score))
    console.print(_calibration_table(report))
    console.print(_lift_table(report))


Target = Annotated[
    str,
    typer.Option(help="Outcome: with --from-csv a column (two values); from the store a stage (customer, sql, ...)."),
]


def _parse_day(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date or time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _train_store(target: str, as_of: str | None, maturity_days: float | None, models_dir: Path, as_json: bool) -> None:
    from funnelbridge.bootstrap import open_runtime
    from funnelbridge.scoring.predictive.store_train import store_report_json, train_from_store

    rt = open_runtime(state().settings)
    with err_console.status("training from the store…") as status:
        outcome = train_from_store(
            rt, target, _parse_day(as_of), models_dir, maturity_days, lambda msg: status.update(f"{msg}…")
        )
    if as_json:
        typer.echo(json.dumps(store_report_json(outcome.report, outcome.store), indent=2, allow_nan=False))
        return
    store = outcome.store
    console.print(
        escape(
            f"store as of {store.as_of} (last activity {store.last_activity}): {store.n_leads} leads; {store.n_rows} "
            f"decided at '{store.decision_stage}' entry (or identification) at least {store.maturity_days:g} days "
            f"before the last activity, positive when they reached '{store.target}' within those "
            f"{store.maturity_days:g} days; {store.n_immature} too young, "
            f"{store.n_converted_before_decision} converted before deciding — left out; "
            f"{store.n_changed_after_decision} leads' attributes changed after their decision time"
        )
    )
    _render_report(outcome.report, outcome.saved.path)
    _render_honesty(outcome.report)


def _render_honesty(report: TrainingReport) -> None:
    model, rule = report.validation.roc_auc, report.rule_score.roc_auc if report.rule_score else None
    if model is None or rule is None:
        return
    verdict = "beats" if model > rule else "does NOT beat"
    console.print(
        escape(f"On the validation leads the model {verdict} the rule score (ROC AUC {model:.3f} vs {rule:.3f}).")
    )
    gap = report.comparison
    if gap is not None:
        clear = {"better": "the model is better", "worse": "the rule score is better"}.get(gap.verdict, "")
        note = clear or "not a clear difference: too few validation outcomes to tell them apart"
        console.print(
            escape(
                f"Difference {gap.difference:+.3f}, 95% bootstrap interval {gap.ci_low:+.3f} to {gap.ci_high:+.3f} "
                f"over {gap.n_positive} positive and {gap.n_negative} negative validation leads: {note}."
            )
        )
    ece = report.expected_calibration_error
    if ece is not None and ece > 0.05:
        console.print(escape(f"Calibration error {ece:.3f} is large: read the probabilities as a ranking, not odds."))


def train(
    from_csv: Annotated[Path | None, typer.Option("--from-csv", help="CSV of leads with an outcome column.")] = None,
    target: Target = "customer",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Store: train on history known at this date (default now).")
    ] = None,
    maturity_days: Annotated[
        float | None,
        typer.Option(
            help="Store: outcome horizon in days — positive when the target is reached within it; leads decided "
            "more recently are left out (default: 90th percentile of the observed decision-to-target times, ≥ 30)."
        ),
    ] = None,
    time_column: Annotated[
        str | None, typer.Option(help="CSV: validate on the latest 25% by this time; else stratified random.")
    ] = None,
    id_column: Annotated[str | None, typer.Option(help="CSV: column identifying each lead (never a feature).")] = None,
    rule_score_column: Annotated[
        str | None, typer.Option(help="CSV: existing score to compare with the model on the same rows.")
    ] = None,
    positive_label: Annotated[
        str | None, typer.Option(help="CSV: which target value is the positive outcome (default: inferred).")
    ] = None,
    models_dir: ModelsDir = Path("models"),
    as_json: JsonFlag = False,
) -> None:
    """Train a calibrated gradient-boosting lead scorer (from the store, or a CSV), validate it, save a version."""
    from funnelbridge.scoring.predictive import TrainConfig, report_to_json, train_leads

    if from_csv is None:
        _train_store(target, as_of, maturity_days, models_dir, as_json)
        return
    config = TrainConfig(target, time_column, id_column, rule_score_column, positive_label)
    with err_console.status("training…") as status:
        outcome = train_leads(from_csv, config, models_dir, lambda msg: status.update(f"{msg}…"))
    if as_json:
        typer.echo(json.dumps(report_to_json(outcome.report), indent=2, allow_nan=False))
    else:
        _render_report(outcome.report, outcome.saved.path)


def score(
    model: Annotated[
        str | None, typer.Option("--model", help="Recorded model version (default: the active one).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Score every lead with the active model; store the probability beside the rule score."""
    from funnelbridge.bootstrap import open_runtime
    from funnelbridge.scoring.predictive.store_scoring import score_all_with_model

    rt = open_runtime(state().settings)
    with err_console.status("scoring leads with the model…"):
        summary = score_all_with_model(rt, model)
    if as_json:
        typer.echo(json.dumps(asdict(summary), indent=2, allow_nan=False))
        return
    mean = "—" if summary.mean_probability is None else f"{summary.mean_probability:.1%}"
    console.print(f"model [bold]{summary.model_version}[/]: {summary.scored} leads scored, mean probability {mean}")
    if summary.without_rule_score:
        console.print(f"{summary.without_rule_score} leads have no rule score row yet and were not given one")


def _explanation_json(item: Explanation) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(item)


def _render_explanation(item: Explanation) -> None:
    who = item.row_id if item.row_id is not None else f"row {item.row}"
    table = Table(title=escape(f"{who}: probability {item.probability:.1%} ({item.method})"))
    for name, justify in (("feature", "left"), ("value", "left"), ("contribution (log-odds)", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in item.top:
        table.add_row(escape(c.feature), escape(c.value), f"{c.contribution:+.3f}")
    console.print(table)


def explain(
    from_csv: Annotated[
        Path | None, typer.Option("--from-csv", help="CSV with the columns the model was trained on.")
    ] = None,
    contact: Annotated[int | None, typer.Option("--contact", help="Explain this lead of the store.")] = None,
    model: Annotated[str, typer.Option("--model", help="Model version (or unique prefix), or 'latest'.")] = "latest",
    row_id: Annotated[str | None, typer.Option("--id", help="Explain only the lead with this id.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to explain when no --id is given.")] = 10,
    top: Annotated[int, typer.Option(help="Contributing features to show per lead.")] = 5,
    models_dir: ModelsDir = Path("models"),
    as_json: JsonFlag = False,
) -> None:
    """Explain predicted probabilities: the features that pushed each lead's score up or down the most."""
    from funnelbridge.scoring.predictive import explain_csv

    if from_csv is not None:
        outcome = explain_csv(from_csv, models_dir, model, row_id, limit, top)
    elif contact is not None:
        outcome = _explain_store(contact, None if model == "latest" else model, top)
    else:
        raise typer.BadParameter("give --contact ID (a lead of the store) or --from-csv FILE")
    if as_json:
        data = {"model_version": outcome.version, "explanations": [_explanation_json(e) for e in outcome.explanations]}
        typer.echo(json.dumps(data, indent=2, allow_nan=False))
        return
    console.print(f"model [bold]{outcome.version}[/]")
    for item in outcome.explanations:
        _render_explanation(item)


def _explain_store(contact: int, version: str | None, top: int) -> ExplainOutcome:
    from funnelbridge.bootstrap import open_runtime
    from funnelbridge.scoring.predictive import ExplainOutcome
    from funnelbridge.scoring.predictive.store_scoring import active_model, explain_lead

    rt = open_runtime(state().settings)
    item = explain_lead(rt, contact, version, top)
    with rt.db.read() as conn:
        chosen = active_model(conn, version)
    return ExplainOutcome(chosen.version if chosen else "?", (item,))


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    model_app.command("train")(train)
    model_app.command("score")(score)
    model_app.command("explain")(explain)
    app.add_typer(model_app, name="model")
