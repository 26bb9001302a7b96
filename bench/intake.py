"""Event intake benchmark (library level, SQLite): batch intake as the demo runs it, and one event per call as the
REST API stores it — the current code against a baseline git revision, measured in the same run.

    python -m bench.intake [--people 10000] [--single 1000] [--baseline REV] [--current REV] [--prefill PEOPLE]

The workload is demo-like and deterministic: anonymous visitors with page views (some with UTM tags), about a
third of them identifying through a form with traits (company, domain, title ...; some free-mail), then email
events (opens, clicks, a few unsubscribes and bounces); some identified people come back on a second device and
identify again (a merge). Batch: every event through ``ingest_events(..., batch_size=5000, defer=True)``.
Single: after the batch, ``--single`` further events, one ``ingest_events`` call (one transaction) each.

Each code version runs in its own process (the baseline from ``git archive REV``, first on ``PYTHONPATH``);
figures are CPU seconds (steadier than wall time on a shared machine) and SQL statements per event, with wall
time and the load average beside them. Results: bench/results/intake.json with ``cpu_ratio`` = baseline CPU /
current CPU (above 1: the current code is cheaper).

``--prefill PEOPLE`` measures intake into a large store: a store holding PEOPLE other simulated people's events is
built once (untimed, by the baseline code, so it has the baseline's schema) and each version runs on a copy of it
(after migrating it: the current code's migrations run untimed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "intake.json"
T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
_UTM = [("google", "cpc", "search-q1"), ("linkedin", "paid_social", "li-abm"), ("newsletter", "email", "nl-feb")]
_PAGES = ["/", "/pricing", "/blog/a", "/blog/b", "/case-studies", "/careers"]


def workload(people: int, seed: int, tag: str = "") -> list[dict[str, Any]]:
    """Payloads of ``people`` simulated people, in (roughly: 5% arrive late) occurrence order (``tag`` prefixes
    their cookies and addresses: another crowd)."""
    rnd = random.Random(seed)
    out: list[tuple[datetime, dict[str, Any]]] = []
    for i in range(people):
        start = T0 + timedelta(minutes=rnd.randrange(30 * 24 * 60))
        domain = "gmail.com" if rnd.random() < 0.2 else f"{tag}corp{i // 4}.example"
        email = f"{tag}p{i}@{domain}"
        out += _visits(rnd, f"{tag}v{i}", start, rnd.randint(1, 4))
        if rnd.random() < 0.35:
            at = start + timedelta(hours=rnd.randint(1, 72))
            out.append((at, _form(rnd, f"{tag}v{i}", email, at, domain)))
            out += _emails(rnd, email, at)
            if rnd.random() < 0.06:  # a second device, identified later: merged into the person
                back = at + timedelta(days=rnd.randint(1, 5))
                out += _visits(rnd, f"{tag}w{i}", back, 2)
                second = _form(rnd, f"{tag}w{i}", email, back + timedelta(hours=2), domain)
                out.append((back + timedelta(hours=2), second))
    out.sort(key=lambda pair: pair[0])
    payloads = [p for _, p in out]
    for k in range(0, len(payloads) - 1, 20):  # a few late arrivals
        if rnd.random() < 0.05:
            payloads[k], payloads[k + 1] = payloads[k + 1], payloads[k]
    return payloads


def _visits(rnd: random.Random, anon: str, start: datetime, n: int) -> list[tuple[datetime, dict[str, Any]]]:
    out = []
    for j in range(n):
        at = start + timedelta(minutes=7 * j)
        props: dict[str, Any] = {"path": rnd.choice(_PAGES)}
        if j == 0 and rnd.random() < 0.6:
            props.update(zip(("utm_source", "utm_medium", "utm_campaign"), rnd.choice(_UTM), strict=True))
        out.append((at, {"type": "page", "anonymous_id": anon, "timestamp": at.isoformat(), "properties": props}))
    return out


def _form(rnd: random.Random, anon: str, email: str, at: datetime, domain: str) -> dict[str, Any]:
    traits: dict[str, Any] = {"first_name": rnd.choice(["Ada", "Bo", "Cy"]), "title": rnd.choice(["CTO", "VP Ops"])}
    if domain != "gmail.com":
        traits.update(company=f"Company {domain}", employees=rnd.randint(5, 5000), country=rnd.choice(["DE", "US"]))
    return {"type": "form", "anonymous_id": anon, "email": email, "timestamp": at.isoformat(), "traits": traits,
            "properties": {"path": "/ebook"}}  # fmt: skip


def _emails(rnd: random.Random, email: str, after: datetime) -> list[tuple[datetime, dict[str, Any]]]:
    out = []
    for j in range(rnd.randint(0, 4)):
        at = after + timedelta(days=1 + j, minutes=rnd.randrange(600))
        kind = rnd.choices(["open", "click", "unsubscribe", "bounce"], [60, 30, 3, 2])[0]
        out.append((at, {"type": "email", "event": kind, "email": email, "timestamp": at.isoformat()}))
    return out


def run_part(workdir: Path, people: int, single: int, seed: int, store: Path | None = None) -> dict[str, Any]:
    """Measure the code importable in this process (called in a subprocess per code version), on a copy of
    ``store`` when given (a prefilled store), else on an empty one."""
    from sqlalchemy import event

    from funnelbridge.domain.clock import FrozenClock
    from funnelbridge.domain.events import EventBus
    from funnelbridge.ingest import ingest_events
    from funnelbridge.playbook import load_example
    from funnelbridge.runtime import Runtime
    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    payloads = workload(people + single, seed)
    later = [p for i, p in enumerate(payloads) if i % ((people + single) // max(1, single)) == 0][:single]
    skip = {id(p) for p in later}
    batch = [p for p in payloads if id(p) not in skip]
    if store is not None:
        shutil.copyfile(store, workdir / "intake.db")
    db = connect(f"sqlite:///{workdir / 'intake.db'}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW), bus=EventBus())
    statements = [0]
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
    figures: dict[str, Any] = {"module": __import__("funnelbridge").__file__}
    for name, calls in (("batch", [batch]), ("single", [[p] for p in later])):
        statements[0] = 0
        wall, cpu = time.perf_counter(), time.process_time()
        accepted = sum(ingest_events(rt, chunk, batch_size=5000, defer=True).accepted for chunk in calls)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        events = sum(len(c) for c in calls)
        figures[name] = {"events": events, "accepted": accepted, "cpu_seconds": round(cpu, 3),
                         "wall_seconds": round(wall, 3), "cpu_ms_per_1000_events": round(1e6 * cpu / events, 1),
                         "statements_per_event": round(statements[0] / events, 3)}  # fmt: skip
    db.dispose()
    return figures


def prefill(path: Path, people: int, seed: int) -> dict[str, Any]:
    """Build a store holding ``people`` other people's events (batch intake, untimed in the comparison)."""
    from funnelbridge.domain.clock import FrozenClock
    from funnelbridge.domain.events import EventBus
    from funnelbridge.ingest import ingest_events
    from funnelbridge.playbook import load_example
    from funnelbridge.runtime import Runtime
    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    db = connect(f"sqlite:///{path}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW), bus=EventBus())
    cpu = time.process_time()
    accepted = ingest_events(rt, workload(people, seed + 1, tag="f"), batch_size=5000, defer=True).accepted
    with db.transaction() as conn:
        conn.exec_driver_sql("DELETE FROM activity_queue")  # the measured batches queue their own contacts
    db.dispose()  # the last connection closed: the WAL is checkpointed into the file
    return {"people": people, "events": accepted, "cpu_seconds": round(time.process_time() - cpu, 1)}


def _baseline_src(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _in_subprocess(
    src: Path | None, workdir: Path, args: argparse.Namespace, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    workdir.mkdir()
    out = workdir / "part.json"
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
    command = [sys.executable, "-m", "bench.intake", "--part-out", str(out), "--people", str(args.people),
               "--single", str(args.single), "--seed", str(args.seed), *extra]  # fmt: skip
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--single", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline", default="0b81d48", help="git revision of the code to compare with")
    parser.add_argument("--current", help="git revision to run as the current code (default: the working tree)")
    parser.add_argument("--prefill", type=int, default=0, help="people already in the store (0: an empty store)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--part-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--make-store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_store:
        args.part_out.write_text(json.dumps(prefill(args.make_store, args.prefill, args.seed)))
        return 0
    if args.part_out:
        with tempfile.TemporaryDirectory() as tmp:
            part = run_part(Path(tmp), args.people, args.single, args.seed, args.store)
            args.part_out.write_text(json.dumps(part))
        return 0
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        src, store, filled = _baseline_src(args.baseline, Path(tmp) / "rev"), Path(tmp) / "filled.db", None
        if args.prefill:
            filled = _in_subprocess(src, Path(tmp) / "f", args, ("--prefill", str(args.prefill), "--make-store",
                                                                 str(store)))  # fmt: skip
        extra = ("--store", str(store)) if args.prefill else ()
        base = _in_subprocess(src, Path(tmp) / "b", args, extra)
        cur = _baseline_src(args.current, Path(tmp) / "cur") if args.current else None
        current = _in_subprocess(cur, Path(tmp) / "c", args, extra)
    result = {
        "people": args.people,
        "prefill": filled,
        "seed": args.seed,
        "baseline_revision": args.baseline,
        "current_revision": args.current or "working tree",
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "baseline": base,
        "current": current,
        "cpu_ratio": {k: round(base[k]["cpu_seconds"] / current[k]["cpu_seconds"], 2) for k in ("batch", "single")},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
