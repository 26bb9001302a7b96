"""CLI commands: ``worker`` (deliver the outbox, fire timers) and ``outbox`` (inspect, retry dead actions)."""

from __future__ import annotations

import signal
import threading
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from funnelbridge.cli.app import console, state
from funnelbridge.errors import InputError

__all__ = ["register"]


def worker(
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then exit.")] = False,
    batch: Annotated[int | None, typer.Option(help="Actions claimed per batch (default: worker_batch).")] = None,
    lease: Annotated[float, typer.Option(help="Seconds a claim is held before another worker may take it.")] = 60.0,
    poll: Annotated[float, typer.Option(help="Seconds to wait when nothing is due.")] = 0.2,
) -> None:
    """Deliver queued actions (email, webhooks, moves) with retries, and fire due SLA and nurture timers."""
    from funnelbridge.automation import WorkerConfig, WorkerSummary, run_worker
    from funnelbridge.bootstrap import open_runtime

    settings = state().settings
    rt = open_runtime(settings)
    overrides: dict[str, Any] = {"lease": timedelta(seconds=lease), "poll": poll}
    if batch is not None:
        overrides["batch"] = batch
    config = WorkerConfig.from_settings(settings, **overrides)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"worker {escape(config.worker_id)} starting", total=None)

        def report(s: WorkerSummary) -> None:
            text = f"delivered {s.delivered}, retrying {s.retried}, dead {s.dead}, timers fired {s.timers_fired}"
            progress.update(task, description=text)

        summary = run_worker(rt, settings, once=once, config=config, stop=stop, progress=report)
    console.print(
        f"delivered [bold]{summary.delivered}[/], scheduled for retry {summary.retried}, dead-lettered "
        f"{summary.dead}, timers fired {summary.timers_fired}, inactive leads {summary.inactive_leads}"
    )
    rt.db.dispose()


def outbox(
    failed: Annotated[bool, typer.Option("--failed", help="Show only dead-lettered actions.")] = False,
    retry: Annotated[int | None, typer.Option("--retry", metavar="ID", help="Re-queue a dead action.")] = None,
    limit: Annotated[int, typer.Option(help="How many recent actions to show.")] = 30,
    purge: Annotated[
        str | None, typer.Option(metavar="AGE", help="Delete actions delivered longer ago than AGE (e.g. 30d).")
    ] = None,
) -> None:
    """Show queued, delivered and dead-lettered actions, re-queue a dead one, or purge old delivered ones."""
    from funnelbridge.automation import list_outbox, purge_outbox, retry_outbox
    from funnelbridge.domain.clock import utcnow
    from funnelbridge.domain.durations import parse_duration
    from funnelbridge.store.db import connect

    db = connect(state().settings.database_url)
    if purge is not None:
        try:
            age = parse_duration(purge)
        except ValueError as exc:
            raise InputError(str(exc), field="--purge") from None
        console.print(f"deleted {purge_outbox(db, utcnow() - age)} delivered actions older than {escape(purge)}")
        return
    if retry is not None:
        row = retry_outbox(db, retry, utcnow())
        console.print(f"action {row.id} ({escape(row.kind)}) is queued again with a fresh attempt budget")
        return
    listing = list_outbox(db, failed=failed, limit=limit)
    table = Table(title="dead-lettered actions" if failed else "outbox", show_lines=False)
    for name in ("id", "kind", "status", "attempts", "available at", "key", "last error"):
        table.add_column(name, overflow="fold")
    for r in listing.rows:
        table.add_row(
            str(r.id),
            escape(r.kind),
            r.status,
            str(r.attempts),
            r.available_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(r.idempotency_key),
            escape((r.last_error or "")[:120]),
        )
    console.print(table)
    counts = ", ".join(f"{status} {n}" for status, n in listing.counts.items())
    console.print(f"totals: {counts}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(worker)
    app.command()(outbox)
