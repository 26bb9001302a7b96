"""CLI commands: ``deal open|move|win|lose``."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from funnelbridge.cli.app import console
from funnelbridge.cli.lead import AsOpt, KeyOpt, PipelineOpt, RoleOpt, actor_of, runtime

if TYPE_CHECKING:
    from funnelbridge.lifecycle.model import DealResult

__all__ = ["register"]

deal_app = typer.Typer(help="Open deals and move them to won or lost.", no_args_is_help=True)
DealArg = Annotated[int, typer.Argument(help="Deal id.")]


def _show(result: DealResult) -> None:
    note = " (replayed: unchanged)" if result.replayed else ""
    console.print(
        f"deal {result.deal_id} \\[{escape(result.pipeline)}]: [bold]{result.stage}[/] ({result.status}), "
        f"{result.amount:,.2f} {result.currency}, probability {result.probability:.0%}{note}"
    )
    for t in result.transitions:
        console.print(f"  contact {t.contact_id}: {t.from_stage} → [bold]{t.to_stage}[/]")


@deal_app.command("open")
def open_cmd(
    contact_id: Annotated[int, typer.Argument(help="Contact id of the qualified lead.")],
    actor: AsOpt,
    amount: Annotated[str, typer.Option(help="Deal amount, e.g. 12000 or 12000.50.")],
    currency: Annotated[str, typer.Option(help="ISO 4217 currency code.")] = "USD",
    close: Annotated[str | None, typer.Option("--close", help="Expected close date, YYYY-MM-DD.")] = None,
    name: Annotated[str | None, typer.Option(help="Deal name.")] = None,
    stage: Annotated[str | None, typer.Option(help="Deal stage (default: the first).")] = None,
    probability: Annotated[float | None, typer.Option(help="0..1 (default: the deal stage's).")] = None,
    role: RoleOpt = "sales",
    pipeline: PipelineOpt = None,
    key: KeyOpt = None,
) -> None:
    """Open a deal for a qualified lead (SQL → opportunity)."""
    from funnelbridge.errors import InputError
    from funnelbridge.lifecycle import open_deal

    try:
        expected = date.fromisoformat(close) if close else None
    except ValueError:
        raise InputError(f"expected YYYY-MM-DD, got {close!r}", field="close") from None
    who = actor_of(actor, role)
    with runtime() as rt:
        result = open_deal(
            rt,
            contact_id,
            who,
            amount=amount,
            currency=currency,
            expected_close=expected,
            name=name,
            stage=stage,
            probability=probability,
            pipeline=pipeline,
            idempotency_key=key,
        )
    _show(result)


@deal_app.command("move")
def move_cmd(
    deal_id: DealArg,
    stage: Annotated[str, typer.Argument(help="Target deal stage, e.g. proposal.")],
    actor: AsOpt,
    probability: Annotated[float | None, typer.Option(help="0..1 (default: the deal stage's).")] = None,
    amount: Annotated[str | None, typer.Option(help="New amount.")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept on the change).")] = None,
    role: RoleOpt = "sales",
    key: KeyOpt = None,
) -> None:
    """Move an open deal to another deal stage."""
    from funnelbridge.lifecycle import move_deal

    who = actor_of(actor, role)
    with runtime() as rt:
        result = move_deal(
            rt, deal_id, who, stage, probability=probability, amount=amount, reason=reason, idempotency_key=key
        )
    _show(result)


@deal_app.command("win")
def win_cmd(
    deal_id: DealArg,
    actor: AsOpt,
    amount: Annotated[str | None, typer.Option(help="Final amount (default: the deal's).")] = None,
    role: RoleOpt = "sales",
    key: KeyOpt = None,
) -> None:
    """Close a deal as won; the lead becomes a customer."""
    from funnelbridge.lifecycle import win_deal

    who = actor_of(actor, role)
    with runtime() as rt:
        result = win_deal(rt, deal_id, who, amount=amount, idempotency_key=key)
    _show(result)


@deal_app.command("lose")
def lose_cmd(
    deal_id: DealArg,
    actor: AsOpt,
    reason: Annotated[str, typer.Option(help="One of the playbook's handoff.loss_reasons.")],
    competitor: Annotated[str | None, typer.Option(help="Who won instead.")] = None,
    role: RoleOpt = "sales",
    key: KeyOpt = None,
) -> None:
    """Close a deal as lost; the lead is recycled after the playbook's cool-down."""
    from funnelbridge.lifecycle import lose_deal

    who = actor_of(actor, role)
    with runtime() as rt:
        result = lose_deal(rt, deal_id, who, reason, competitor, idempotency_key=key)
    _show(result)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(deal_app, name="deal")
