"""CLI commands: ``import KIND FILE`` (CSV/Parquet), ``events ingest FILE`` (JSON lines) and ``unmerge MERGE_ID``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from funnelbridge.cli.app import console, state

if TYPE_CHECKING:
    from funnelbridge.runtime import Runtime

__all__ = ["register"]

events_app = typer.Typer(help="Event intake (identify, track, page, form, email payloads).", no_args_is_help=True)


@contextmanager
def _progress(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _estimate(path: Path) -> int | None:
    from funnelbridge.ingest.jsonl import count_lines

    if path.suffix.lower() in (".parquet", ".pq"):
        return None
    return max(0, count_lines(path) - (0 if path.suffix.lower() == ".jsonl" else 1)) or None


def _rejections(rejections: list[object], total: int, path: Path | None) -> None:
    for rejection in rejections[:10]:
        console.print(f"  [red]✗[/] {escape(str(rejection))}", highlight=False)
    if total > 10:
        console.print(f"  … and {total - 10} more", highlight=False)
    if path is not None:
        console.print(f"rejected rows written to [bold]{escape(str(path))}[/]")


def import_command(
    kind: Annotated[str, typer.Argument(help="accounts, contacts, events, deals, campaigns or costs.")],
    file: Annotated[Path, typer.Argument(help="CSV file (or .parquet).", exists=True, dir_okay=False)],
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="YAML/JSON mapping {input header: field} overriding the detection; contacts: also a stages: section "
            "{source stage value: stage id or null} and unmapped_stages: ignore|reject."
        ),
    ] = None,
    rejects: Annotated[Path | None, typer.Option(help="Dead-letter file (default FILE.rejected.csv).")] = None,
    score: Annotated[
        bool, typer.Option(help="Then score and advance the imported contacts (queued while storing, drained after).")
    ] = True,
    encoding: Annotated[str, typer.Option(help="Text encoding of a CSV file.")] = "utf-8",
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Events: 2 reads and checks the file in a second process while this one writes, 1 does both here "
            "(default: 2 for 100,000 rows or more when a CPU is spare by the load average).",
        ),
    ] = None,
) -> None:
    """Import a CSV or Parquet file; re-running it is safe (rows are matched by their keys)."""
    from funnelbridge.bootstrap import open_runtime
    from funnelbridge.ingest import import_file

    rt = open_runtime(state().settings)
    started = time.perf_counter()
    with _progress(f"importing {kind}", _estimate(file)) as advance:
        summary = import_file(rt, kind, file, mapping, advance, rejects=rejects, after=score, defer=score,
                              encoding=encoding, workers=workers)  # fmt: skip
    stored = time.perf_counter() - started
    console.print(f"stored {summary.read:,} rows in {stored:,.1f} s ({summary.read / max(stored, 1e-9):,.0f} rows/s)")
    if score:
        _score_queued(rt)
    table = Table(title=f"{escape(str(file))} → {summary.kind} ({summary.source_format} columns)")
    for name in ("read", "inserted", "updated", "unchanged", "merged", "duplicates", "rejected", "accounts_created"):
        table.add_column(name.replace("_", " "), justify="right")
    table.add_row(*(f"{getattr(summary, n):,}" for n in ("read", "inserted", "updated", "unchanged", "merged",
                                                       "duplicates", "rejected", "accounts_created")))  # fmt: skip
    console.print(table)
    if summary.histories_written or summary.histories_skipped:
        console.print(
            f"lifecycle histories: {summary.histories_written:,} written, {summary.histories_skipped:,} skipped "
            "(those contacts had a history already)"
        )
    _rejections(list(summary.rejections), summary.rejected, summary.rejects_path)


def _score_queued(rt: Runtime) -> None:
    """Score and advance the contacts the import queued, with a progress bar of its own."""
    from funnelbridge.ingest.followup import queued, score_queued

    started = time.perf_counter()
    with _progress("scoring imported contacts", queued(rt)) as advance:
        result = score_queued(rt, advance)
    took = time.perf_counter() - started
    console.print(
        f"scored {result.contacts:,} contacts in {took:,.1f} s ({result.contacts / max(took, 1e-9):,.0f}/s), "
        f"{result.transitions:,} stage moves" + (f", [red]{len(result.failed)} failed[/]" if result.failed else "")
    )


@events_app.command("ingest")
def events_ingest(
    file: Annotated[Path, typer.Argument(help="JSON lines: one event payload per line.", exists=True, dir_okay=False)],
    rejects: Annotated[Path | None, typer.Option(help="Dead-letter file (default FILE.rejected.csv).")] = None,
    score: Annotated[bool, typer.Option(help="Re-score and advance the contacts of the events.")] = True,
) -> None:
    """Ingest event payloads from a JSON-lines file (duplicates are dropped by idempotency key)."""
    from funnelbridge.bootstrap import open_runtime
    from funnelbridge.ingest.jsonl import ingest_jsonl

    rt = open_runtime(state().settings)
    with _progress("ingesting events", _estimate(file)) as advance:
        summary = ingest_jsonl(rt, file, advance, rejects=rejects, after=score)
    console.print(
        f"received {summary.received:,}: [green]{summary.accepted:,} stored[/], {summary.duplicates:,} duplicates, "
        f"[red]{summary.rejected:,} rejected[/]; {summary.contacts_created:,} new people, "
        f"{summary.identified:,} identified, {summary.merged:,} merged"
    )
    _rejections(list(summary.rejections), summary.rejected, summary.rejects_path)


def unmerge_command(merge_id: Annotated[int, typer.Argument(help="Id of the merge to undo.")]) -> None:
    """Undo a recorded contact merge (both contacts are restored; moved events go back)."""
    from funnelbridge.bootstrap import open_runtime
    from funnelbridge.ingest import unmerge

    result = unmerge(open_runtime(state().settings), merge_id)
    console.print(f"merge {result.merge_id} undone: contact {result.merged_id} restored beside {result.survivor_id}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("import")(import_command)
    app.command("unmerge")(unmerge_command)
    app.add_typer(events_app, name="events")
