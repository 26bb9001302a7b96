"""Benchmark: CSV import of contacts into SQLite, against pandas ``to_sql`` on the same file, in the same run.

    python bench/contacts_import.py                          # 200,000 contacts
    python bench/contacts_import.py --contacts N --workdir DIR --baseline-src OLD/src --out FILE
    python bench/contacts_import.py --contacts 0 --merges N --event-merges N --baseline-src OLD/src --rounds 2

The file is HubSpot-shaped (email, names, title, company, employees, country, original source, create date, and
for a fifth of the rows a lifecycle stage with its dates). Each part runs in a fresh process: pandas
``read_csv`` + ``to_sql`` (plain INSERTs into a table without constraints), then ``import_file(rt, "contacts",
defer=True)`` into a migrated store — a first import, a re-run of the same file (every row unchanged) and a file
whose rows all carry a new job title (every contact updated). With
``--baseline-src`` the same import also runs from that source tree (e.g. ``git archive`` of an older commit), so
old and new code are compared in the same minutes. ``--merges N``: a contacts file whose ``N`` rows
each merge two stored contacts (external id of one, email of the other); ``--event-merges N``: an events file whose
``N`` identifications each merge a visitor into a known contact — CPU ms per merge (the whole import's CPU over the
merges), each in a fresh process, alternating with the baseline. Wall and CPU seconds and the load average before
and after are written to ``bench/results/contacts_import.json``; compare CPU rates and same-run ratios on a shared box.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

HEADERS = ["Email", "First Name", "Last Name", "Job Title", "Company Name", "Number of Employees", "Country",
           "Original Source", "Create Date", "Lifecycle Stage", "Became a Lead Date",
           "Became a Marketing Qualified Lead Date"]  # fmt: skip
T0 = datetime(2025, 1, 1, tzinfo=UTC)
_OUT = Path(__file__).parent / "results" / "contacts_import.json"


def write_contacts(path: Path, n: int, seed: int, title: str | None = None) -> None:
    """``title``: every row gets this job title (the *changed* file: every stored contact is updated)."""
    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADERS)
        for i in range(n):
            company = f"corp{i // 10}"
            created = T0 + timedelta(minutes=i)
            stage, lead, mql = "", "", ""
            if i % 5 == 0:
                stage, lead = rnd.choice(["lead", "marketingqualifiedlead"]), created.isoformat()
                mql = (created + timedelta(days=3)).isoformat() if stage != "lead" else ""
            role = rnd.choice(["VP Sales", "Engineer"])
            out.writerow([f"p{i}@{company}.example", f"First{i}", f"Last{i}", title or role,
                          company.title(), rnd.choice([12, 80, 450, 2000]), rnd.choice(["US", "DE", "GB"]),
                          rnd.choice(["ORGANIC_SEARCH", "PAID_SEARCH", "REFERRALS"]), created.isoformat(), stage,
                          lead, mql])  # fmt: skip


def write_merge_files(base: Path, merge: Path, n: int) -> None:
    """The merge files: ``base`` stores ``2n`` contacts — ``n`` with an external id (Record ID) and an email, ``n``
    with another email only; each row of ``merge`` names one of the first by its external id and one of the second
    by its email, so importing it merges ``n`` pairs (the email's contact into the external id's)."""
    with base.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["Record ID", "Email", "First Name", "Job Title", "Company Name", "Create Date"])
        for i in range(n):
            created = (T0 + timedelta(minutes=i)).isoformat()
            out.writerow([f"crm-{i}", f"p{i}@corp{i // 10}.example", f"First{i}", "", f"Corp{i // 10}", created])
            out.writerow(["", f"q{i}@corp{i // 10}.example", "", "Engineer", "", created])
    with merge.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["Record ID", "Email"])
        out.writerows([f"crm-{i}", f"q{i}@corp{i // 10}.example"] for i in range(n))


def merge_part(workdir: Path, n: int) -> dict[str, Any]:
    """Import the base file, then the merge file (``n`` merges): CPU seconds and ms per merge."""
    from funnelbridge.domain.clock import FrozenClock
    from funnelbridge.ingest import import_file
    from funnelbridge.playbook import load_example
    from funnelbridge.runtime import Runtime
    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    store = workdir / "merges.db"
    store.unlink(missing_ok=True)
    db = connect(f"sqlite:///{store}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(T0 + timedelta(days=400)))
    import_file(rt, "contacts", workdir / "merge_base.csv", defer=True)
    summary, figures = _measure(partial(import_file, rt, "contacts", workdir / "merge.csv", defer=True))
    rerun, again = _measure(partial(import_file, rt, "contacts", workdir / "merge.csv", defer=True))
    db.dispose()
    return {"merges": summary.merged, "rows": n, **figures, "ms_per_merge_cpu": 1000 * figures["cpu_seconds"] / n,
            "rerun": {**again, "merges": rerun.merged, "unchanged": rerun.unchanged},
            "peak_rss_mib": _peak_rss_mib()}  # fmt: skip


def write_event_merge_files(one: Path, two: Path, n: int) -> None:
    """Two events files of ``n`` people: in ``one`` each visits (a cookie) and identifies with an email; in ``two``
    each visits again under a new cookie and identifies with the same email — which merges that visitor into the
    known contact (``n`` merges, through ``Book.merge``)."""
    for path, tag, start in ((one, "e", T0), (two, "f", T0 + timedelta(days=2))):
        with path.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(["event_id", "type", "anonymous_id", "email", "timestamp", "utm_source"])
            for p in range(n):
                at = start + timedelta(seconds=p * 7)
                out.writerow([f"{tag}{p}a", "page_view", f"{tag}anon{p}", "", at.isoformat(), "ads"])
                out.writerow([f"{tag}{p}b", "form_submit", f"{tag}anon{p}", f"p{p}@x{p % 13}.example",
                              (at + timedelta(seconds=2)).isoformat(), ""])  # fmt: skip


def event_merge_part(workdir: Path, n: int) -> dict[str, Any]:
    """Import the first events file, then the second (``n`` merges, one process, no bulk load): CPU and ms per
    merge."""
    from funnelbridge.domain.clock import FrozenClock
    from funnelbridge.ingest import import_file
    from funnelbridge.playbook import load_example
    from funnelbridge.runtime import Runtime
    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    store = workdir / "event_merges.db"
    store.unlink(missing_ok=True)
    db = connect(f"sqlite:///{store}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(T0 + timedelta(days=10)))
    import_file(rt, "events", workdir / "events_one.csv", after=False, workers=1)
    run = partial(import_file, rt, "events", workdir / "events_two.csv", after=False, bulk=False, workers=1)
    summary, figures = _measure(run)
    db.dispose()
    return {"merges": summary.merged, "events": 2 * n, **figures,
            "ms_per_merge_cpu": 1000 * figures["cpu_seconds"] / max(summary.merged, 1)}  # fmt: skip


def _measure(fn: Any, *args: Any) -> tuple[Any, dict[str, float]]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}


def _rates(figures: dict[str, float], rows: int) -> dict[str, float]:
    return {**figures, "rows_per_s": rows / figures["seconds"], "rows_per_cpu_s": rows / figures["cpu_seconds"]}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def pandas_part(path: Path, workdir: Path) -> dict[str, Any]:
    import pandas as pd
    from sqlalchemy import create_engine

    (workdir / "pandas.db").unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{workdir / 'pandas.db'}")

    def load() -> None:
        for frame in pd.read_csv(path, chunksize=100_000, dtype=str, keep_default_na=False):
            frame.to_sql("contacts", engine, if_exists="append", index=False, chunksize=10_000)

    figures = _measure(load)[1]
    engine.dispose()
    return {**figures, "peak_rss_mib": _peak_rss_mib()}


def import_part(path: Path, workdir: Path, name: str) -> dict[str, Any]:
    from funnelbridge.domain.clock import FrozenClock
    from funnelbridge.ingest import import_file
    from funnelbridge.playbook import load_example
    from funnelbridge.runtime import Runtime
    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    store = workdir / f"{name}.db"
    store.unlink(missing_ok=True)
    db = connect(f"sqlite:///{store}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(T0 + timedelta(days=400)))
    out: dict[str, Any] = {}
    for run, src in (("first", path), ("rerun", path), ("changed", path.with_name("changed.csv"))):
        summary, figures = _measure(partial(import_file, rt, "contacts", src, defer=True))
        out[run] = {**figures, "inserted": summary.inserted, "updated": summary.updated,
                    "unchanged": summary.unchanged, "rejected": summary.rejected}  # fmt: skip
    db.dispose()
    out["peak_rss_mib"] = _peak_rss_mib()
    return out


def _isolated(part: str, workdir: Path, src: str | None = None, merges: int = 0) -> Any:
    out = workdir / f"{part}.json"
    command = [sys.executable, __file__, "--part", part, "--workdir", str(workdir), "--part-out", str(out),
               "--merges", str(merges)]  # fmt: skip
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    subprocess.run(command, check=True, env=env)
    return json.loads(out.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/fb-bench-contacts"))
    parser.add_argument("--baseline-src", default=None, help="a source tree (its src/) to measure as the baseline")
    parser.add_argument("--rounds", type=int, default=1, help="alternate new and baseline this many times")
    parser.add_argument("--out", type=Path, default=_OUT)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--merges", type=int, default=0, help="also measure a file of this many merges")
    parser.add_argument("--event-merges", type=int, default=0, help="and an events file of this many merges")
    parser.add_argument("--part", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--part-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    path = args.workdir / "contacts.csv"
    if args.part:
        if args.part == "pandas":
            found = pandas_part(path, args.workdir)
        elif args.part.startswith("merges"):
            found = merge_part(args.workdir, args.merges)
        elif args.part.startswith("event-merges"):
            found = event_merge_part(args.workdir, args.merges)
        else:
            found = import_part(path, args.workdir, args.part)
        args.part_out.write_text(json.dumps(found), encoding="utf-8")
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"contacts": args.contacts, "merges": args.merges, "cpus": os.cpu_count(),
                              "command": " ".join(sys.argv), "load_average_before": os.getloadavg()}  # fmt: skip
    if args.contacts:
        result.update(_contacts_runs(args, path))
    if args.merges:
        write_merge_files(args.workdir / "merge_base.csv", args.workdir / "merge.csv", args.merges)
        merges: dict[str, list[Any]] = {"funnelbridge_merges": [], "baseline_code_merges": []}
        for _ in range(args.rounds):
            merges["funnelbridge_merges"].append(_isolated("merges", args.workdir, merges=args.merges))
            if args.baseline_src:
                found = _isolated("merges-baseline", args.workdir, args.baseline_src, args.merges)
                merges["baseline_code_merges"].append(found)
        result.update({k: v for k, v in merges.items() if v})
    if args.event_merges:
        result.update(_event_merge_runs(args))
    result["load_average_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


def _event_merge_runs(args: argparse.Namespace) -> dict[str, Any]:
    n = args.event_merges
    write_event_merge_files(args.workdir / "events_one.csv", args.workdir / "events_two.csv", n)
    runs: dict[str, list[Any]] = {"funnelbridge_event_merges": [], "baseline_code_event_merges": []}
    for _ in range(args.rounds):
        runs["funnelbridge_event_merges"].append(_isolated("event-merges", args.workdir, merges=n))
        if args.baseline_src:
            runs["baseline_code_event_merges"].append(_isolated("event-merges-b", args.workdir, args.baseline_src, n))
    return {k: v for k, v in runs.items() if v}


def _contacts_runs(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    """pandas, then this code and the baseline alternating, each in a fresh process."""
    changed = path.with_name("changed.csv")
    if not changed.exists() or sum(1 for _ in path.open(encoding="utf-8")) != args.contacts + 1:
        write_contacts(path, args.contacts, args.seed)
        write_contacts(changed, args.contacts, args.seed, title="Head of Revenue")
    pandas = _isolated("pandas", args.workdir)
    result: dict[str, Any] = {
        "baseline_pandas_to_sql": _rates(pandas, args.contacts) | {"peak_rss_mib": pandas["peak_rss_mib"]}
    }
    runs: dict[str, list[Any]] = {"funnelbridge": [], "baseline_code": []}
    for _ in range(args.rounds):
        runs["funnelbridge"].append(_isolated("funnelbridge", args.workdir))
        if args.baseline_src:
            runs["baseline_code"].append(_isolated("baseline", args.workdir, args.baseline_src))
    for name, found in runs.items():
        if found:
            result[name] = [_summarize(f, args.contacts, pandas) for f in found]
    return result


def _summarize(found: dict[str, Any], n: int, pandas: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"peak_rss_mib": found["peak_rss_mib"]}
    for run in ("first", "rerun", "changed"):
        rates = _rates(found[run], n)
        rates["ratio_to_pandas"] = pandas["seconds"] / rates["seconds"]
        rates["cpu_ratio_to_pandas"] = pandas["cpu_seconds"] / rates["cpu_seconds"]
        out[run] = rates
    return out


if __name__ == "__main__":
    sys.exit(main())
