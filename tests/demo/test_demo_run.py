"""The demo drives the real engine: the funnel it produces has the right statistical shape, and the same seed
gives the same database, table by table."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from funnelbridge.demo import catalog as cat
from funnelbridge.demo.report import StageCounts, stage_counts
from funnelbridge.demo.runner import DemoResult, run_demo
from funnelbridge.demo.world import Market
from funnelbridge.playbook.examples import example_path
from funnelbridge.store import Database, connect
from funnelbridge.store.tables import (
    activity_queue,
    campaign_costs,
    campaigns,
    contacts,
    deals,
    events,
    metadata,
    pipeline_states,
    scores,
    transitions,
    users,
)

HOT = Market(in_market_base=0.12, in_market_fit=0.3)  # many buyers, so a short run reaches deals


def _playbook(tmp: Path) -> Path:
    """The shipped b2b playbook, with lost deals recycled at once (no 90-day cool-down) so a short run shows it."""
    text = example_path("b2b").read_text(encoding="utf-8")
    assert "lost: 90d" in text
    path = tmp / "playbook.yaml"
    path.write_text(text.replace("lost: 90d", "lost: 0d"), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def shaped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoResult, Database, StageCounts]]:
    tmp = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{tmp}/demo.db"
    result = run_demo(url, 600, 75, 5, playbook=_playbook(tmp), market=HOT, report=stage_counts)
    db = connect(url)
    yield result, db, result.report
    db.dispose()


def _scalar(db: Database, query: Any) -> Any:
    with db.read() as conn:
        return conn.execute(query).scalar_one()


def test_conversion_falls_stage_by_stage(shaped) -> None:  # type: ignore[no-untyped-def]
    _, _, counts = shaped
    reached = dict(counts.stages)
    chain = ["visitor", "lead", "mal", "mql", "sal", "sql", "opportunity"]
    assert all(reached[a] >= reached[b] for a, b in itertools.pairwise(chain)), reached
    assert reached["visitor"] > 2 * reached["lead"] > 0
    assert reached["mal"] > 2 * reached["mql"] > 0
    assert reached["opportunity"] > 0
    assert reached["customer"] < reached["opportunity"]


def _truth(result: DemoResult) -> dict[str, dict[str, str]]:
    with result.truth_path.open(encoding="utf-8") as fh:
        return {row["email"]: row for row in csv.DictReader(fh)}


def test_good_fit_converts_better_than_bad_fit(shaped) -> None:  # type: ignore[no-untyped-def]
    result, db, _ = shaped
    truth = _truth(result)
    handed = select(contacts.c.email).join(transitions, transitions.c.contact_id == contacts.c.id)
    with db.read() as conn:
        leads = {r.email for r in conn.execute(select(contacts.c.email).where(contacts.c.email.is_not(None)))}
        mqls = {r.email for r in conn.execute(handed.where(transitions.c.to_stage.in_(["mql", "sal"])))}
    good = [e for e in leads if e in truth and float(truth[e]["fit"]) >= 0.6]
    bad = [e for e in leads if e in truth and float(truth[e]["fit"]) < 0.4]
    rate = {name: sum(e in mqls for e in group) / len(group) for name, group in (("good", good), ("bad", bad))}
    assert len(good) > 30 and len(bad) > 30
    assert rate["good"] > 2 * rate["bad"], rate


def test_costs_and_channels_are_all_present(shaped) -> None:  # type: ignore[no-untyped-def]
    result, db, _ = shaped
    with db.read() as conn:
        channels = {r.channel for r in conn.execute(select(campaigns.c.channel))}
        costed = conn.execute(select(func.count(func.distinct(campaign_costs.c.campaign_id)))).scalar_one()
        spend = conn.execute(select(func.sum(campaign_costs.c.amount))).scalar_one()
        touched = {r.campaign for r in conn.execute(select(events.c.campaign).distinct()) if r.campaign}
        teams = {r.team for r in conn.execute(select(users.c.team).where(users.c.role == "sales"))}
    assert channels == {c.channel for c in cat.CAMPAIGNS}
    assert costed == len(cat.CAMPAIGNS)
    assert float(spend) == pytest.approx(result.marketing_spend, rel=1e-6)
    assert {c.key for c in cat.CAMPAIGNS} <= touched
    assert teams == {"default", "dach", "enterprise", "management"}


def test_reps_reject_with_reasons_and_lost_deals_recycle(shaped) -> None:  # type: ignore[no-untyped-def]
    result, db, _ = shaped
    t = transitions.c
    with db.read() as conn:
        rejected = list(conn.execute(select(t.reason).where(t.from_stage == "mql", t.to_stage == "recycled")))
        lost = list(conn.execute(select(deals.c.contact_id, deals.c.closed_at).where(deals.c.status == "lost")))
        recycled_after_loss = {
            r.contact_id for r in conn.execute(select(t.contact_id, t.at).where(t.to_stage == "recycled"))
        }
        grouped = select(pipeline_states.c.stage, func.count()).group_by(pipeline_states.c.stage)
        states = {stage: n for stage, n in conn.execute(grouped)}
    assert rejected and all(r.reason for r in rejected)
    assert result.actions.get("deals_lost", 0) == len(lost) > 0
    assert all(row.contact_id in recycled_after_loss for row in lost)
    assert states.get("recycled", 0) > 0


def test_every_active_contact_is_drained_scored_and_staged(shaped) -> None:  # type: ignore[no-untyped-def]
    """The day's activity goes in deferred; the daily drain must leave no touched contact unscored or unstaged."""
    result, db, _ = shaped
    active = select(events.c.contact_id).where(events.c.contact_id.is_not(None)).distinct().subquery()
    main = pipeline_states.c.pipeline == "main"
    with db.read() as conn:
        queued = conn.execute(select(func.count()).select_from(activity_queue)).scalar_one()
        n_active = conn.execute(select(func.count()).select_from(active)).scalar_one()
        staged = conn.execute(select(func.count(func.distinct(pipeline_states.c.contact_id))).where(main))
        scored = conn.execute(select(func.count()).select_from(scores).where(scores.c.score_group == "main"))
        n_staged, n_scored = staged.scalar_one(), scored.scalar_one()
    assert queued == 0
    assert n_active > 300
    assert n_staged >= n_active and n_scored >= n_active
    assert result.engine["contacts_scored"] >= n_active and not result.engine["scoring_failed"]


def _tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    db = connect(url)
    out = {}
    with db.read() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns))
            out[table.name] = [tuple(r) for r in rows]
    db.dispose()
    return out


def test_same_seed_gives_identical_databases(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path}/{name}.db" for name in ("one", "two")]
    for url in urls:
        run_demo(url, 200, 25, 13, market=HOT)
    one, two = (_tables(url) for url in urls)
    assert one["events"] and one["transitions"] and one["scores"]
    for name in one:
        assert one[name] == two[name], name
    truths = [Path(f"{tmp_path}/{name}.db.truth.csv").read_bytes() for name in ("one", "two")]
    assert truths[0] == truths[1]


def _url(db: Database) -> str:
    """The fixture's store as a URL (on PostgreSQL, with the test's schema as search path)."""
    if db.is_sqlite:
        return db.url
    with db.read() as conn:
        schema = conn.exec_driver_sql("select current_schema()").scalar_one()
    return f"{db.url}?options=-csearch_path%3D{schema}"


def _payloads(people: int, days: int, seed: int, market: Market) -> int:
    """How many payloads the simulator produces for this world (every one must be stored)."""
    from funnelbridge.demo.behaviour import new_crowd, simulate_day
    from funnelbridge.demo.runner import DEFAULT_START
    from funnelbridge.demo.world import WorldShape, build_world

    world = build_world(WorldShape(people, days, seed, market))
    crowd = new_crowd(people)
    return sum(len(simulate_day(world, crowd, day, DEFAULT_START).payloads) for day in range(days))


def test_runs_on_every_store(db: Database, tmp_path: Path) -> None:
    result = run_demo(_url(db), 120, 10, 2, market=HOT, ground_truth=tmp_path / "truth.csv")
    assert result.events == _payloads(120, 10, 2, HOT) and result.truth_path == tmp_path / "truth.csv"
    assert _scalar(db, select(func.count()).select_from(events)) == result.events
    assert _scalar(db, select(func.count()).select_from(contacts)) > 0
    again = run_demo(_url(db), 40, 2, 9, reset=True, ground_truth=tmp_path / "again.csv")
    fresh = connect(_url(db))  # on SQLite --reset replaced the file under the fixture's open connection
    assert _scalar(fresh, select(func.count()).select_from(events)) == again.events < result.events
    fresh.dispose()


def test_refuses_a_store_with_data_unless_reset(tmp_path: Path) -> None:
    from funnelbridge.errors import ConfigError

    url = f"sqlite:///{tmp_path}/again.db"
    seen: list[tuple[float, int]] = []
    run_demo(url, 40, 2, 1, lambda done, total: seen.append((done, total)))
    assert seen[-1] == (2, 2) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    with pytest.raises(ConfigError, match="--reset"):
        run_demo(url, 40, 2, 1)
    assert run_demo(url, 40, 2, 1, reset=True).events > 0
