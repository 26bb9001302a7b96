"""Benchmark: SQLite's own cost of a bulk events load, by setting and statement shape. Writes
``bench/results/sqlite_bulk.json``.

    python bench/sqlite_bulk.py                              # 1,000,000 contacts, 2,000,000 events, every variant
    python bench/sqlite_bulk.py --events 10000000 --variants base,adopted --rounds 2
    python bench/sqlite_bulk.py --list                       # the variants and what each changes

A migrated funnelbridge store with 1,000,000 contacts is built once (``template.db`` in the work directory); each
run copies it and loads N prepared event tuples the way the import's writer does (:mod:`funnelbridge.ingest.
bulkplain`): a store opened with :func:`funnelbridge.store.connect` (its pragmas), the events table's secondary
indexes dropped in the first chunk's transaction (:mod:`funnelbridge.store.bulkload`), one transaction a chunk with
:func:`~funnelbridge.store.bulkload.bulk_settings` and one ``executemany`` of driver tuples
(:func:`~funnelbridge.store.events.insert_sqlite_event_params`: ``INSERT ... ON CONFLICT DO NOTHING`` under the
unique key and the foreign key), then the indexes rebuilt and the WAL checkpointed. Tuples are generated per block
of 10,000 rows from a seeded RNG (same rows whatever the chunk size) outside the timed part. Every run is a fresh
process (``--part``); variants alternate round by round. Figures: CPU seconds (user + system, all threads) and
wall seconds of the load, the rebuild and the final checkpoint, CPU-us an event, peak RSS, the load average.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BASE: dict[str, Any] = {
    "pragmas": {},  # connection-level, set on connect (outside any transaction)
    "cache_kib": 262_144,  # in the chunk's transaction, after bulk_settings (256 MiB: what 96fa862 used)
    "chunk": 50_000,
    "order": "file",  # file | key | contact
    "keys": "seq",  # seq (e<i>, the ingest bench's) | uuid (random hex)
    "shape": "executemany",  # executemany | values<N> (N rows per multi-row INSERT)
    "checkpoint": "end",  # end | chunk (PRAGMA wal_checkpoint(PASSIVE) after each chunk's commit)
    "journal_back": False,  # journal_mode back to WAL at the end (a load run in another journal mode)
    "unchecked": False,  # the load inside store.bulkload.unchecked_foreign_keys
    "bulk_settings": False,  # the code's bulk_settings(on=True) in each chunk's transaction (else: cache_kib)
    "unique": "kept",  # kept (the autoindex of UNIQUE (idempotency_key)) | deferred (a named unique index, dropped
    # in the first chunk's transaction and built after the load: the ``_uix`` template)
    "secondary": "rebuilt",  # rebuilt (dropped, built after the load) | kept (maintained row by row) | type_kept
    # (ix_events_type_time maintained, ix_events_contact_time rebuilt)
}
_CODE = {"bulk_settings": True, "cache_kib": None, "unchecked": True}
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},  # the settings of 96fa862 (store.connect's and a 256 MiB page cache), pinned
    "sync_off": {"pragmas": {"synchronous": "OFF"}},
    "fk_off": {"pragmas": {"foreign_keys": "OFF"}},
    "ckpt_10k": {"pragmas": {"wal_autocheckpoint": 10_000}},
    "ckpt_100k": {"pragmas": {"wal_autocheckpoint": 100_000}},
    "ckpt_chunk": {"pragmas": {"wal_autocheckpoint": 0}, "checkpoint": "chunk"},
    "journal_delete": {"pragmas": {"journal_mode": "DELETE"}, "journal_back": True},
    "cache_512m": {"cache_kib": 524_288},
    "cache_1g": {"cache_kib": 1_048_576},
    "mmap_1g": {"pragmas": {"mmap_size": 1 << 30}},
    "temp_file": {"pragmas": {"temp_store": "FILE"}},
    "threads_2": {"pragmas": {"threads": 2}},
    "chunk_100k": {"chunk": 100_000},
    "chunk_200k": {"chunk": 200_000},
    "order_key": {"order": "key"},
    "order_contact": {"order": "contact"},
    "uuid": {"keys": "uuid"},
    "uuid_order_key": {"keys": "uuid", "order": "key"},
    "values_100": {"shape": "values100"},
    "ckpt_10k_cache_512m": {"pragmas": {"wal_autocheckpoint": 10_000}, "cache_kib": 524_288},
    "ckpt_10k_fk_off": {"pragmas": {"wal_autocheckpoint": 10_000, "foreign_keys": "OFF"}},
    "code": _CODE,  # what store.bulkload offers now
    # issue 6, the unique key's cost: the code's settings, import-like keys ("d:" + 40 random hex: derived keys)
    "u_a": {**_CODE, "keys": "derived"},  # (a) today: unique autoindex kept, secondary indexes rebuilt
    "u_a_kept": {**_CODE, "keys": "derived", "secondary": "kept"},  # (a), secondary indexes maintained
    "u_a_type_kept": {**_CODE, "keys": "derived", "secondary": "type_kept"},  # (a), ix_events_type_time maintained
    "u_a_cache_1g": {**_CODE, "keys": "derived", "cache_kib": 1_048_576},  # (a) with a 1 GiB page cache
    "u_b": {**_CODE, "keys": "derived", "unique": "deferred", "secondary": "kept"},  # (b) unique index deferred
    "u_c": {**_CODE, "keys": "derived", "unique": "deferred"},  # (c) unique and secondary indexes deferred
    "u_c_threads_2": {**_CODE, "keys": "derived", "unique": "deferred", "pragmas": {"threads": 2}},
}
_UNIQUE_INDEX = "uq_events_idempotency_key"
_TYPES = ["page_view"] * 6 + ["email_open", "email_click", "asset_download", "webinar_attended"]
_PATHS = ["/", "/pricing", "/blog/funnels", "/customers/acme", "/docs", "/careers"]
_UTM = [("google", "cpc", "search-q2"), ("linkedin", "paid_social", "abm-q2"), ("newsletter", "email", "nl-may")]
_NO_UTM = (None, None, None)
_BLOCK = 10_000
_KEYS = {
    "seq": lambda i, _rnd: f"e{i}",
    "uuid": lambda _i, rnd: f"{rnd.getrandbits(128):032x}",
    "derived": lambda _i, rnd: f"d:{rnd.getrandbits(160):040x}",  # an import's derived key: "d:" + 40 hex
}
_RECEIVED = "2026-01-01 00:00:00.000000"


def _block(index: int, contacts: int, keys: str) -> list[tuple[Any, ...]]:
    """Rows ``index * _BLOCK ...`` as driver tuples in EVENT_COLUMNS order (key, contact, anon, type, at, received,
    path, campaign, source, medium, properties)."""
    rnd = random.Random(index)
    rows = []
    for i in range(index * _BLOCK, (index + 1) * _BLOCK):
        person = rnd.randrange(contacts)
        anon = f"anon{person}" if rnd.random() < 0.05 else None
        source, medium, campaign = rnd.choice(_UTM) if rnd.random() < 0.3 else _NO_UTM
        seconds = 2_592_000 + i * 3
        at = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(1_735_689_600 + seconds))
        key = _KEYS[keys](i, rnd)
        rows.append((key, person + 1, anon, rnd.choice(_TYPES), at, _RECEIVED, rnd.choice(_PATHS), campaign, source,
                     medium, None))  # fmt: skip
    return rows


def _chunks(events: int, contacts: int, chunk: int, keys: str) -> Iterator[list[tuple[Any, ...]]]:
    blocks = range(events // _BLOCK)
    for start in range(0, len(blocks), chunk // _BLOCK):
        yield list(
            itertools.chain.from_iterable(_block(b, contacts, keys) for b in blocks[start : start + chunk // _BLOCK])
        )


def template(workdir: Path, contacts: int) -> Path:
    """A migrated store with ``contacts`` contacts (ids 1..contacts), built once per work directory."""
    path = workdir / f"template_{contacts}.db"
    if path.exists():
        return path
    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    part = path.with_suffix(".part")
    part.unlink(missing_ok=True)
    db = connect(f"sqlite:///{part}")
    upgrade(db)
    db.dispose()
    conn = sqlite3.connect(part, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO contacts (id, email, created_at, updated_at, version, unsubscribed, bounced) "
                     "VALUES (?, ?, '2025-01-01 00:00:00.000000', '2025-01-01 00:00:00.000000', 1, 0, 0)",
                     ((i + 1, f"p{i}@corp{i // 10}.example") for i in range(contacts)))  # fmt: skip
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")  # one file to copy; each run's connect() turns WAL back on
    conn.close()
    part.rename(path)
    return path


def template_uix(workdir: Path, contacts: int) -> Path:
    """:func:`template` whose events table has no UNIQUE constraint but a named unique index on the key (empty
    table: dropped and created again) — the schema of migration 0008, which every ``u_*`` variant loads into (a
    template of an older revision would make ``restore_indexes`` build the declared index beside the constraint)."""
    path = workdir / f"template_{contacts}_uix.db"
    if path.exists():
        return path
    part = path.with_suffix(".part")
    shutil.copyfile(template(workdir, contacts), part)
    conn = sqlite3.connect(part, isolation_level=None)
    table = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()[0]
    indexes = [r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' "
                                          "AND sql IS NOT NULL")]  # fmt: skip
    plain = re.sub(r",\s*CONSTRAINT \w+ UNIQUE \(idempotency_key\)", "", table)
    if plain == table:  # made by a revision with migration 0008: the key is a unique index already
        conn.close()
        part.rename(path)
        return path
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("BEGIN")
    for statement in ["DROP TABLE events", plain, *indexes,
                      f"CREATE UNIQUE INDEX {_UNIQUE_INDEX} ON events (idempotency_key)"]:  # fmt: skip
        conn.execute(statement)
    conn.execute("COMMIT")
    conn.close()
    part.rename(path)
    return path


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Timer:
    def __init__(self) -> None:
        self.cpu = self.wall = 0.0

    def __enter__(self) -> _Timer:
        self._cpu, self._wall = _cpu(), time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.cpu += _cpu() - self._cpu
        self.wall += time.perf_counter() - self._wall

    def figures(self) -> dict[str, float]:
        return {"cpu_seconds": round(self.cpu, 3), "seconds": round(self.wall, 3)}


def _values_sql(base: str, n: int) -> str:
    head, _, tail = base.partition(" VALUES ")
    one, _, conflict = tail.partition(") ")
    return f"{head} VALUES {', '.join([one + ')'] * n)} {conflict}"


def _insert(conn: Any, rows: list[tuple[Any, ...]], shape: str, unique: str) -> int:
    from funnelbridge.store.events import _sqlite_sql, insert_sqlite_event_params

    if unique == "deferred":  # no unique index to name: skip conflicts on any (the primary key's)
        sql = _sqlite_sql(conn).replace("ON CONFLICT (idempotency_key) DO NOTHING", "ON CONFLICT DO NOTHING")
        return int(conn.exec_driver_sql(sql, rows).rowcount)
    if shape == "executemany":
        return insert_sqlite_event_params(conn, rows)
    n = int(shape.removeprefix("values"))
    raw, sql, done = conn.connection.driver_connection, _values_sql(_sqlite_sql(conn), n), 0
    whole = len(rows) - len(rows) % n
    for start in range(0, whole, n):
        done += raw.execute(sql, list(itertools.chain.from_iterable(rows[start : start + n]))).rowcount
    return done + insert_sqlite_event_params(conn, rows[whole:])


def _outside(db: Any, *sql: str) -> None:
    """Statements outside any transaction, on the pool's connection (SQLAlchemy would begin one)."""
    raw = db.engine.raw_connection()
    try:
        for statement in sql:
            raw.driver_connection.execute(statement).fetchall()
    finally:
        raw.close()


def run(workdir: Path, variant: str, events: int, contacts: int) -> dict[str, Any]:
    """One variant in this process: copy the template, load, rebuild, checkpoint."""
    from sqlalchemy import event as sa_event

    from funnelbridge.store import connect
    from funnelbridge.store.bulkload import bulk_settings, restore_indexes, secondary_indexes, unchecked_foreign_keys
    from funnelbridge.store.tables import events as events_table

    def drop(conn: Any) -> None:
        for ix in secondary_indexes(events_table):
            kept = {"kept": True, "type_kept": ix.name == "ix_events_type_time"}.get(spec["secondary"], False)
            if not kept:
                ix.drop(conn)
        if spec["unique"] == "deferred":
            conn.exec_driver_sql(f"DROP INDEX {_UNIQUE_INDEX}")

    spec = {**BASE, **VARIANTS[variant]}
    path = workdir / f"run_{variant}.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    deferred = spec["unique"] == "deferred"
    shutil.copyfile((template_uix if variant.startswith("u_") else template)(workdir, contacts), path)
    db = connect(f"sqlite:///{path}")

    def pragmas(dbapi_conn: Any, _record: Any) -> None:
        for name, value in spec["pragmas"].items():
            dbapi_conn.execute(f"PRAGMA {name}={value}")

    sa_event.listen(db.engine, "connect", pragmas)
    order = {"file": None, "key": lambda r: r[0], "contact": lambda r: r[1]}[spec["order"]]
    load, rebuild, unique, checkpoint, inserted, first = _Timer(), _Timer(), _Timer(), _Timer(), 0, True
    load_avg = [os.getloadavg()[0]]
    unchecked = unchecked_foreign_keys(db.engine, on=spec["unchecked"])
    unchecked.__enter__()
    for rows in _chunks(events, contacts, spec["chunk"], spec["keys"]):
        with load:
            if order is not None:
                rows.sort(key=order)
            with db.transaction() as conn:
                if first:
                    drop(conn)
                    first = False
                if spec["bulk_settings"]:
                    bulk_settings(conn, on=True)
                if spec["cache_kib"]:
                    conn.exec_driver_sql(f"PRAGMA cache_size=-{spec['cache_kib']}")
                inserted += _insert(conn, rows, spec["shape"], spec["unique"])
            if spec["checkpoint"] == "chunk":
                _outside(db, "PRAGMA wal_checkpoint(PASSIVE)")
    unchecked.__exit__(None, None, None)
    with db.transaction() as conn:
        if deferred:
            with unique:
                conn.exec_driver_sql(f"CREATE UNIQUE INDEX {_UNIQUE_INDEX} ON events (idempotency_key)")
        with rebuild:
            restore_indexes(conn, events_table)
        bulk_settings(conn, on=False)
    with checkpoint:
        _outside(db, *(["PRAGMA journal_mode=WAL"] if spec["journal_back"] else []), "PRAGMA wal_checkpoint(TRUNCATE)")
    load_avg.append(os.getloadavg()[0])
    with db.read() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM events").scalar()
        wal = Path(f"{path}-wal")
    db.dispose()
    assert inserted == stored == events, (inserted, stored, events)
    total = load.cpu + rebuild.cpu + unique.cpu + checkpoint.cpu
    figures = {"variant": variant, "events": events, "contacts": contacts, "load": load.figures(),
               "rebuild": rebuild.figures(), "unique_build": unique.figures(),
               "checkpoint": checkpoint.figures(), "cpu_seconds": round(total, 3),
               "seconds": round(load.wall + rebuild.wall + unique.wall + checkpoint.wall, 3),
               "cpu_us_per_event": round(total / events * 1e6, 3),
               "load_cpu_us_per_event": round(load.cpu / events * 1e6, 3),
               "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
               "db_mib": round(path.stat().st_size / 2**20, 1), "wal_left": wal.exists() and wal.stat().st_size,
               "load_average": load_avg}  # fmt: skip
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return figures


def _isolated(args: argparse.Namespace, variant: str) -> dict[str, Any]:
    out = args.workdir / f"part_{variant}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--part", variant, "--workdir", str(args.workdir),
               "--events", str(args.events), "--contacts", str(args.contacts), "--part-out", str(out)]  # fmt: skip
    subprocess.run(command, check=True)
    return dict(json.loads(out.read_text(encoding="utf-8")))


def _summary(runs: list[dict[str, Any]], baseline: str) -> dict[str, Any]:
    by: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault(r["label"], []).append(r)
    base = min(r["cpu_seconds"] for r in by.get(baseline, runs))
    return {label: {"cpu_us_per_event": [r["cpu_us_per_event"] for r in rs],
                    "load_cpu_us_per_event": [r["load_cpu_us_per_event"] for r in rs],
                    "rebuild_cpu_s": [r["rebuild"]["cpu_seconds"] for r in rs],
                    "unique_build_cpu_s": [r.get("unique_build", {}).get("cpu_seconds", 0.0) for r in rs],
                    "checkpoint_cpu_s": [r["checkpoint"]["cpu_seconds"] for r in rs],
                    "wall_s": [r["seconds"] for r in rs], "peak_rss_mib": [r["peak_rss_mib"] for r in rs],
                    "best_cpu_ratio_to_base": round(min(r["cpu_seconds"] for r in rs) / base, 3)}
            for label, rs in by.items()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/fb/x/sqlite"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "sqlite_bulk.json")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--part-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.list:
        for name, change in VARIANTS.items():
            print(f"{name}: {change or 'the code as it is'}")
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.part:
        args.part_out.write_text(json.dumps(run(args.workdir, args.part, args.events, args.contacts)))
        return
    template(args.workdir, args.contacts)
    labels = [(v, v) for v in args.variants.split(",")]
    baseline = "base" if any(v == "base" for v, _ in labels) else labels[0][0]
    runs = []
    for round_ in range(args.rounds):
        for label, variant in labels:
            figures = _isolated(args, variant) | {"label": label, "round": round_}
            figures["load_average"].append(os.getloadavg()[0])
            runs.append(figures)
            shown = ("label", "cpu_us_per_event", "load_cpu_us_per_event", "seconds", "peak_rss_mib", "load_average")
            print(json.dumps({k: figures[k] for k in shown}), flush=True)
    result = {"events": args.events, "contacts": args.contacts, "rounds": args.rounds, "sqlite": sqlite3.sqlite_version,
              "baseline": baseline, "summary": _summary(runs, baseline), "runs": runs}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
