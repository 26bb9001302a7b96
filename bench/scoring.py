"""Benchmark: rule scoring, batch and incremental. Writes ``bench/results/scoring.json``.

    python bench/scoring.py            # 50,000 leads, 1,000,000 events, 40-rule playbook (a minute or two)
    python bench/scoring.py --full --skip-store --out bench/results/scoring_full.json
                                       # 1,000,000 leads, 20,000,000 events (the issue's target size)

Synthetic data is generated with numpy straight into Arrow (no Python loops over events). Figures:

* **batch**: every lead scored by the vectorized path (:func:`funnelbridge.scoring.batch.score_batches`:
  conditions compiled by Ibis and run on DuckDB, event rules as numpy/Arrow vector math) — explanation JSON
  included, streamed in record batches. Baseline, measured in the same run: a plain per-lead Python loop
  (:func:`funnelbridge.scoring.rules_engine.score_facts`) over the same leads' facts, already in memory, timed on a
  random sample and extrapolated linearly to all leads (it is O(leads)); the ratio is extrapolated loop time /
  batch time, in wall seconds and in process CPU seconds (``time.process_time``, all threads: the fairer figure
  on a shared, loaded machine). Peak RSS (VmHWM, reset after data generation) is read right after the batch
  phase; the load average is recorded before the batch and after the baseline.
* **incremental**: events replayed one by one in time order for a sample of leads; after each event its lead is
  rescored from its facts (``score_facts``) — events scored per second on one core. A second figure goes through
  the store: insert the event and ``score_contact`` (load facts, score, upsert, crossings) in one SQLite
  transaction per event.
* **store**: ``rescore_all`` end to end on a SQLite store of ``--store-leads`` leads: bulk load → score → write
  back, per phase (the store figures are not extrapolated).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import yaml

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.playbook.loader import parse_playbook
from funnelbridge.playbook.schema import Playbook
from funnelbridge.rules.facts import EventFact, LeadFacts
from funnelbridge.rules.ibis import LIST_SEPARATOR, column_name, lead_fields
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.batch import batch_conditions, score_batches
from funnelbridge.scoring.batch_load import TS, lead_schema
from funnelbridge.scoring.rescore import rescore_all
from funnelbridge.scoring.rules_engine import score_facts
from funnelbridge.scoring.service import score_contact
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import accounts, contacts, events

RESULTS = Path(__file__).parent / "results" / "scoring.json"
AS_OF = datetime(2025, 6, 1, 12, tzinfo=UTC)
TITLES = [
    "VP Sales",
    "Director of Marketing",
    "Head of Growth",
    "CEO",
    "Marketing Manager",
    "Sales Manager",
    "Engineer",
    "Analyst",
    "Student",
    "Intern",
    "Consultant",
    "Chief Revenue Officer",
    "Account Executive",
]
SENIORITY = ["c_level", "vp", "director", "manager", "individual", "student"]
INDUSTRIES = ["software", "finance", "banking", "insurance", "healthcare", "retail", "manufacturing", "education"]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "AT", "CH", "IN", "BR", "JP"]
TECH = ["Salesforce", "HubSpot", "AWS", "Snowflake", "Marketo", "Zendesk"]
FREE = ["gmail.com", "yahoo.com", "outlook.com", "gmx.de"]
COMPETITORS = ["rivalcrm.com", "funnelforce.io"]
EVENT_TYPES = {  # type: weight
    "page_view": 50,
    "email_open": 12,
    "email_click": 6,
    "asset_download": 3,
    "webinar_registered": 2,
    "webinar_attended": 1.5,
    "demo_request": 0.5,
    "trial_start": 0.5,
    "form_submit": 2,
    "contact_sales": 0.3,
    "video_play": 3,
    "chat_started": 1,
    "newsletter_signup": 1,
    "free_tool_used": 1,
    "event_booth_scan": 0.5,
    "unsubscribe": 0.4,
    "email_bounce": 0.3,
    "spam_complaint": 0.1,
    "meeting_booked": 0.4,
    "review_read": 1,
}
PATHS = ["/", "/pricing", "/customers/acme", "/customers/globex", "/blog/funnels", "/blog/scoring", "/docs/api",
         "/docs/start", "/careers", "/careers/sdr", "/integrations/salesforce", "/compare/rivalcrm", "/product",
         "/security", "/about"]  # fmt: skip


def playbook_40() -> Playbook:
    """A 40-rule playbook: 12 fit, 20 engagement, 8 negative rules."""

    def f(field: str, op: str, value: Any = None, **kw: Any) -> dict[str, Any]:
        return {"field": field, "op": op, **({"value": value} if value is not None else {}), **kw}

    pv = lambda op, value: {"field": "path", "op": op, "value": value}  # noqa: E731
    fit = [
        f("contact.title", "matches", r"\b(vp|vice president|director|head|chief|c[eir]o)\b"),
        f("contact.title", "matches", r"\bmanager\b"),
        f("account.employees", "gte", 50), f("account.employees", "gte", 1000),
        f("account.industry", "in", INDUSTRIES[:5]), f("account.country", "in", COUNTRIES[:7]),
        f("account.technologies", "contains", "salesforce"), {"not": f("contact.email", "is_free_email")},
        f("contact.seniority", "in", ["c_level", "vp", "director"]), f("account.annual_revenue", "gte", 10_000_000),
        f("account.technologies", "in", ["snowflake", "aws"]),
        f("events.count", "gte", 3, event="page_view", where=pv("starts_with", "/docs"), within="30d"),
    ]  # fmt: skip
    engagement = [
        {"event": "page_view", "where": pv("eq", "/pricing"), "points": 10, "cap": {"per_day": 20, "total": 40}, "half_life": "14d"},  # noqa: E501
        {"event": "page_view", "where": pv("starts_with", "/customers"), "points": 5, "cap": {"total": 15}, "half_life": "21d"},  # noqa: E501
        {"event": "page_view", "where": pv("starts_with", "/blog"), "points": 1, "cap": {"per_day": 3, "total": 10}, "half_life": "7d"},  # noqa: E501
        {"event": "page_view", "where": pv("starts_with", "/docs"), "points": 2, "cap": {"total": 12}, "half_life": "10d"},  # noqa: E501
        {"event": "page_view", "where": pv("starts_with", "/integrations"), "points": 4, "half_life": "14d"},
        {"event": "page_view", "where": pv("starts_with", "/compare"), "points": 8, "cap": {"total": 16}, "half_life": "14d"},  # noqa: E501
        {"event": "page_view", "where": pv("in", ["/product", "/security"]), "points": 2, "cap": {"per_day": 4}, "expires_after": "30d"},  # noqa: E501
        {"event": "asset_download", "points": 15, "half_life": "30d"},
        {"event": "webinar_registered", "points": 5, "expires_after": "45d"},
        {"event": "webinar_attended", "points": 20, "half_life": "30d"},
        {"event": "email_click", "points": 3, "cap": {"total": 15}, "expires_after": "60d"},
        {"event": "email_open", "points": 1, "cap": {"total": 5}, "expires_after": "30d"},
        {"event": "demo_request", "points": 50, "repeatable": False, "half_life": "60d"},
        {"event": "trial_start", "points": 40, "repeatable": False, "half_life": "45d"},
        {"event": "form_submit", "points": 10, "cap": {"per_day": 10}, "half_life": "30d"},
        {"event": "contact_sales", "points": 30, "half_life": "30d"},
        {"event": "video_play", "points": 2, "cap": {"per_day": 6, "total": 20}, "half_life": "14d"},
        {"event": "chat_started", "points": 6, "half_life": "14d"},
        {"event": "meeting_booked", "points": 25, "repeatable": False, "half_life": "30d"},
        {"event": "free_tool_used", "points": 4, "cap": {"total": 12}, "expires_after": "90d"},
    ]  # fmt: skip
    negative = [
        {"when": f("contact.title", "matches", "student|intern"), "points": -30},
        {"when": f("contact.email", "domain_in", COMPETITORS), "points": -100},
        {"when": f("contact.email", "is_free_email"), "points": -5},
        {"when": f("contact.bounced", "eq", True), "points": -25},
        {"event": "page_view", "where": pv("starts_with", "/careers"), "points": -10, "half_life": "30d"},
        {"event": "unsubscribe", "points": -20},
        {"event": "email_bounce", "points": -25},
        {"event": "spam_complaint", "points": -40, "repeatable": True, "cap": {"total": 80}},
    ]
    data = {
        "name": "bench 40 rules", "timezone": "Europe/Berlin",
        "pipelines": {"main": {"stages": [{"id": "visitor"}, {"id": "lead"}]}},
        "scoring": {"fit": [{"when": w, "points": 5 + i} for i, w in enumerate(fit)], "engagement": engagement,
                    "negative": negative, "grades": {"A": 60, "B": 35, "C": 15}},
    }  # fmt: skip
    pb = parse_playbook(yaml.safe_dump(data), "bench.yaml")
    sc = pb.scoring
    assert len(sc.fit) + len(sc.engagement) + len(sc.negative) == 40
    return pb


def _pick(rng: np.random.Generator, pool: list[str], n: int, null_share: float = 0.0) -> pa.Array:
    idx = rng.integers(0, len(pool), n).astype(np.int32)
    mask = rng.random(n) < null_share if null_share else None
    return pa.DictionaryArray.from_arrays(pa.array(idx, mask=mask), pa.array(pool)).cast(pa.string())


def make_leads(rng: np.random.Generator, n: int, fields: set[str]) -> pa.Table:
    """The lead table (contact and account attributes) of ``n`` leads, as the batch scorer reads it."""
    n_domains = max(10, n // 4)
    domain_idx = rng.integers(0, n_domains, n)
    kind = rng.random(n)
    domains = np.where(kind < 0.2, rng.choice(FREE, n), np.char.add("co", domain_idx.astype(str)).astype(object))
    domains = np.where(kind > 0.995, rng.choice(COMPETITORS, n), domains)
    emails = [f"u{i}@{d}{'' if '.' in d else '.com'}" for i, d in enumerate(domains.tolist())]
    has_account = rng.random(n) > 0.1
    pairs = [LIST_SEPARATOR.join(TECH[i : i + 2]) for i in range(len(TECH))]
    techs = ["", *pairs, LIST_SEPARATOR.join(TECH)]
    columns: dict[str, pa.Array] = {
        "contact.email": pa.array(emails, pa.string()),
        "contact.title": _pick(rng, TITLES, n, 0.1),
        "contact.seniority": _pick(rng, SENIORITY, n, 0.3),
        "contact.bounced": pa.array(rng.random(n) < 0.02),
        "account.employees": pa.array(np.round(rng.lognormal(4, 1.8, n)), mask=~has_account),
        "account.industry": _pick(rng, INDUSTRIES, n, 0.15),
        "account.country": _pick(rng, COUNTRIES, n, 0.05),
        "account.technologies": _pick(rng, techs, n, 0.2),
        "account.annual_revenue": pa.array(rng.lognormal(15, 2, n), mask=~has_account),
    }
    missing = fields - set(columns)
    assert not missing, f"generator lacks {missing}"
    schema = lead_schema(fields)
    arrays = [pa.array(np.arange(1, n + 1, dtype=np.int64))]
    arrays += [columns[f].cast(schema.field(column_name(f)).type) for f in sorted(fields)]
    return pa.Table.from_arrays(arrays, schema=schema)


def make_events(rng: np.random.Generator, n_leads: int, n_events: int) -> pa.Table:
    """``n_events`` events spread over the leads, up to a year before AS_OF (and a few after it)."""
    names, weights = list(EVENT_TYPES), np.array(list(EVENT_TYPES.values()))
    type_idx = rng.choice(len(names), n_events, p=weights / weights.sum()).astype(np.int32)
    is_page = type_idx == names.index("page_view")
    path_idx = rng.integers(0, len(PATHS), n_events).astype(np.int32)
    age_us = np.minimum(rng.exponential(45 * 86400, n_events), 365 * 86400) * 1e6
    age_us[rng.random(n_events) < 0.01] *= -0.01  # a few events after AS_OF: must be ignored
    at = np.int64(AS_OF.timestamp() * 1e6) - age_us.astype(np.int64)
    nulls = pa.nulls(n_events, pa.string())
    return pa.table(
        {
            "contact_id": pa.array(rng.integers(1, n_leads + 1, n_events, dtype=np.int64)),
            "occurred_at": pa.array(at, pa.int64()).cast(TS),
            "type": pa.DictionaryArray.from_arrays(pa.array(type_idx), pa.array(names)),
            "path": pa.DictionaryArray.from_arrays(pa.array(path_idx, mask=~is_page), pa.array(PATHS)),
            "campaign": nulls,
            "source": nulls,
            "medium": nulls,
        }
    )


def sample_facts(leads: pa.Table, ev: pa.Table, ids: np.ndarray) -> list[tuple[int, LeadFacts]]:
    """In-memory facts of the leads ``ids`` (for the per-lead Python loop)."""
    cid = ev.column("contact_id").to_numpy()
    keep = np.isin(cid, ids)
    sub = ev.filter(pa.array(keep)).to_pydict()
    by_lead: dict[int, list[EventFact]] = {int(i): [] for i in ids}
    for c, t, ty, p in zip(sub["contact_id"], sub["occurred_at"], sub["type"], sub["path"], strict=True):
        by_lead[c].append(EventFact(ty, t, path=p))
    rows = leads.take(pa.array(ids - 1)).to_pylist()
    out = []
    for row in rows:
        contact: dict[str, Any] = {}
        account: dict[str, Any] = {}
        for key, value in row.items():
            scope, _, attr = key.partition("__")
            if scope == "account" and attr == "technologies" and value is not None:
                value = value.split(LIST_SEPARATOR) if value else []
            (account if scope == "account" else contact)[attr] = value
        events_ = sorted(by_lead[row["contact_id"]], key=lambda e: e.occurred_at)
        out.append((row["contact_id"], LeadFacts(contact, account, events=events_, as_of=AS_OF)))
    return out


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux: ``5`` into /proc/self/clear_refs), so the next reading covers
    only what follows (not the data generator). False when the platform does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """Peak resident memory: VmHWM (resettable) where available, else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_batch(pb: Playbook, n_leads: int, n_events: int, sample: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    leads = make_leads(rng, n_leads, lead_fields(batch_conditions(pb.scoring)))
    ev = make_events(rng, n_leads, n_events)
    gen_s = time.perf_counter() - t0
    rss_before = peak_rss_mb()
    peak_was_reset = reset_peak_rss()
    load_before = os.getloadavg()
    t0, c0, parts, text_mb = time.perf_counter(), time.process_time(), [], 0.0
    for batch in score_batches(pb, leads, ev, AS_OF):  # streamed: explanations are not kept
        text_mb += batch.column("explanation").nbytes / 1e6
        parts.append(pa.Table.from_batches([batch]).select(["contact_id", "score_group", "total", "grade"]))
    scored = pa.concat_tables(parts)
    batch_s, batch_cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_after_batch = peak_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in score_batches(pb, leads, ev, AS_OF, explain=False):  # the same pass without explanation text
        pass
    bare_s, bare_cpu = time.perf_counter() - t0, time.process_time() - c0
    names, counts = np.unique(scored.column("grade").to_numpy(zero_copy_only=False), return_counts=True)
    grades = dict(zip(names, counts, strict=True))
    ids = np.sort(rng.choice(np.arange(1, n_leads + 1), min(sample, n_leads), replace=False))
    facts = sample_facts(leads, ev, ids)
    t0, c0 = time.perf_counter(), time.process_time()
    for cid, lead in facts:
        score_facts(pb, lead, contact_id=cid)
    loop_s, loop_cpu = time.perf_counter() - t0, time.process_time() - c0
    loop_total, loop_cpu_total = loop_s * n_leads / len(facts), loop_cpu * n_leads / len(facts)
    check = {
        r["contact_id"]: r
        for r in scored.filter(pa.compute.is_in(scored["contact_id"], pa.array(ids))).to_pylist()
        if r["score_group"] == "main"
    }
    worst = max(abs(check[c]["total"] - score_facts(pb, f, contact_id=c)[0].total) for c, f in facts[:200])
    return {
        "leads": n_leads, "events": n_events, "rules": 40, "generate_seconds": round(gen_s, 2),
        "batch_seconds": round(batch_s, 2), "batch_cpu_seconds": round(batch_cpu, 2),
        "batch_leads_per_second": round(n_leads / batch_s), "explanation_mb": round(text_mb),
        "batch_scores_only_seconds": round(bare_s, 2), "batch_scores_only_cpu_seconds": round(bare_cpu, 2),
        "baseline": "per-lead Python loop (score_facts) over in-memory facts, sampled and extrapolated",
        "baseline_sample_leads": len(facts), "baseline_sample_seconds": round(loop_s, 3),
        "baseline_extrapolated_seconds": round(loop_total, 1),
        "baseline_extrapolated_cpu_seconds": round(loop_cpu_total, 1),
        "ratio_batch_vs_loop": round(loop_total / batch_s, 1),
        "ratio_batch_vs_loop_cpu": round(loop_cpu_total / batch_cpu, 1),
        "ratio_scores_only_vs_loop": round(loop_total / bare_s, 1),
        "load_average_before_batch": load_before, "load_average_after_baseline": os.getloadavg(),
        "max_abs_difference_on_200_leads": worst, "peak_rss_mb_after_batch": round(rss_after_batch),
        "peak_rss_mb_before_batch_incl_generator": round(rss_before), "peak_reset_before_batch": peak_was_reset,
        "grade_distribution": {str(k): int(v) for k, v in grades.items()},
    }  # fmt: skip


def bench_incremental(pb: Playbook, leads: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 1)
    lead_table = make_leads(rng, leads, lead_fields(batch_conditions(pb.scoring)))
    ev = make_events(rng, leads, leads * 20)
    facts = sample_facts(lead_table, ev, np.arange(1, leads + 1))
    n, t0 = 0, time.perf_counter()
    for cid, lead in facts:
        history = [e for e in lead.events if e.occurred_at <= AS_OF]
        for k in range(len(history)):
            seen = LeadFacts(lead.contact, lead.account, events=history[: k + 1], as_of=history[k].occurred_at)
            score_facts(pb, seen, contact_id=cid)
            n += 1
    memory_s = time.perf_counter() - t0
    return {"in_memory_events": n, "in_memory_seconds": round(memory_s, 2),
            "in_memory_events_per_second": round(n / memory_s)}  # fmt: skip


def _seed_store(db: Any, pb: Playbook, n_leads: int, n_events: int, seed: int) -> None:
    rng = np.random.default_rng(seed + 2)
    lt = make_leads(rng, n_leads, lead_fields(batch_conditions(pb.scoring))).to_pylist()
    ev = make_events(rng, n_leads, n_events)
    with db.transaction() as conn:
        acc_rows, con_rows = [], []
        for r in lt:
            cid, techs = r["contact_id"], r["account__technologies"]
            acc_rows.append(
                {
                    "id": cid, "domain": f"d{cid}.com", "employees": r["account__employees"],
                    "industry": r["account__industry"], "country": r["account__country"],
                    "technologies": techs.split(LIST_SEPARATOR) if techs else [],
                    "annual_revenue": r["account__annual_revenue"], "created_at": AS_OF, "updated_at": AS_OF,
                }
            )  # fmt: skip
            con_rows.append(
                {
                    "id": cid, "email": r["contact__email"], "title": r["contact__title"],
                    "seniority": r["contact__seniority"], "bounced": r["contact__bounced"], "unsubscribed": False,
                    "account_id": cid, "created_at": AS_OF, "updated_at": AS_OF, "version": 1,
                }
            )  # fmt: skip
        conn.execute(accounts.insert(), acc_rows)
        conn.execute(contacts.insert(), con_rows)
        cols = ev.to_pydict()
        batch = []
        for i, (c, t, ty, p) in enumerate(
            zip(cols["contact_id"], cols["occurred_at"], cols["type"], cols["path"], strict=True)
        ):
            batch.append({"idempotency_key": f"e{i}", "contact_id": c, "type": ty, "occurred_at": t, "received_at": t,
                          "path": p})  # fmt: skip
            if len(batch) == 50_000:
                conn.execute(events.insert(), batch)
                batch = []
        if batch:
            conn.execute(events.insert(), batch)


def bench_store(pb: Playbook, n_leads: int, seed: int, per_event: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = connect(f"sqlite:///{tmp}/bench.db")
        upgrade(db)
        t0 = time.perf_counter()
        _seed_store(db, pb, n_leads, n_leads * 20, seed)
        seed_s = time.perf_counter() - t0
        rt = Runtime(db, pb, FrozenClock(AS_OF), EventBus())
        summary = rescore_all(rt)
        total = sum(summary.seconds.values())
        rng = np.random.default_rng(seed + 3)
        t0 = time.perf_counter()
        for i in range(per_event):
            cid = int(rng.integers(1, n_leads + 1))
            with db.transaction() as conn:
                conn.execute(events.insert().values(idempotency_key=f"n{i}", contact_id=cid, type="page_view",
                                                    path="/pricing", occurred_at=AS_OF, received_at=AS_OF))  # fmt: skip
                score_contact(rt, conn, cid)
        per_event_s = time.perf_counter() - t0
        db.dispose()
    return {
        "store": "sqlite", "leads": n_leads, "events": n_leads * 20, "seed_seconds": round(seed_s, 1),
        "rescore_all_seconds": {k: round(v, 2) for k, v in summary.seconds.items()} | {"total": round(total, 2)},
        "rescore_all_leads_per_second": round(n_leads / total), "engine": summary.engine,
        "score_contact_events": per_event, "score_contact_events_per_second": round(per_event / per_event_s),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="1,000,000 leads and 20,000,000 events")
    ap.add_argument("--leads", type=int, default=50_000)
    ap.add_argument("--events-per-lead", type=int, default=20)
    ap.add_argument("--sample", type=int, default=3_000, help="leads timed in the per-lead loop baseline")
    ap.add_argument("--incremental-leads", type=int, default=300)
    ap.add_argument("--store-leads", type=int, default=5_000)
    ap.add_argument("--score-contact-events", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-store", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON figures")
    args = ap.parse_args(argv)
    leads = 1_000_000 if args.full else args.leads
    pb = playbook_40()
    result: dict[str, Any] = {"topic": "scoring", "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    result["batch"] = bench_batch(pb, leads, leads * args.events_per_lead, args.sample, args.seed)
    print(json.dumps(result["batch"], indent=1), flush=True)
    result["incremental"] = bench_incremental(pb, args.incremental_leads, args.seed)
    print(json.dumps(result["incremental"], indent=1), flush=True)
    if not args.skip_store:
        result["store"] = bench_store(pb, args.store_leads, args.seed, args.score_contact_events)
        print(json.dumps(result["store"], indent=1), flush=True)
    result["peak_rss_mb"] = round(peak_rss_mb())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
