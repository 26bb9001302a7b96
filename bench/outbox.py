"""Benchmark: outbox delivery to a local webhook receiver. Writes ``bench/results/outbox.json``.

    python bench/outbox.py                 # 5,000 queued actions; 2,000 triggering events at 400/s (SQLite)
    python bench/outbox.py --full          # 50,000 actions; 10,000 events at 1,000/s
    python bench/outbox.py --pg URL        # the same against PostgreSQL (a fresh schema, dropped afterwards)

Throughput: N webhook actions are queued, then one worker (``run_worker(once=True)``) delivers them all — claim,
sign, POST, mark done — to a receiver on 127.0.0.1. The baseline, measured in the same run, is the transport
ceiling: the same N signed bodies POSTed with no store at all; the ratio is funnelbridge's throughput over the
baseline's. Both deliver from the worker's ``concurrency`` threads (8) over keep-alive connections. The machine's
load average is recorded with the figures: on a shared box they move a lot.

Latency: a producer publishes StageEntered events (each matched by a webhook rule, written to the outbox in the
publishing transaction) at a fixed rate while a worker runs; the receiver stamps arrival. End-to-end latency is
arrival minus the event's time (``p50_ms``/``p99_ms``, which include the producer's own wait for the write lock), and
arrival minus the commit of the event's transaction (``from_commit_*``: the outbox's own share), for the worker's
default idle poll (0.2 s) and a 10 ms poll.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from funnelbridge.automation import WorkerConfig, enqueue, install, run_worker
from funnelbridge.automation.delivery.webhook import sign
from funnelbridge.domain.events import StageEntered
from funnelbridge.playbook.examples import example_path
from funnelbridge.playbook.loader import load_playbook
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store import Database, connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import contacts

RESULTS = Path(__file__).parent / "results" / "outbox.json"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    arrivals: dict[str, float] = {}  # noqa: RUF012 - one receiver per process

    def _answer(self, body: bytes = b"") -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/reset":
            _Handler.arrivals.clear()
        else:
            _Handler.arrivals.setdefault(self.headers.get("Idempotency-Key", ""), time.time())
        self._answer()

    def do_GET(self) -> None:
        self._answer(json.dumps(_Handler.arrivals).encode())

    def log_message(self, *args: Any) -> None:
        return None


def serve_receiver() -> None:
    """Child process: the webhook receiver (its own process, so it does not share the worker's GIL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


class Receiver:
    """Handle on the receiver process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-receiver"], stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def _call(self, method: str, path: str) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", self.port)
        conn.request(method, path, body=b"" if method == "POST" else None)
        data = conn.getresponse().read()
        conn.close()
        return data

    def reset(self) -> None:
        self._call("POST", "/reset")

    @property
    def arrivals(self) -> dict[str, float]:
        return dict(json.loads(self._call("GET", "/arrivals")))

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def _store(pg: str | None, workdir: Path) -> tuple[Database, str, str | None]:
    """A migrated store: (database, url, PostgreSQL schema or None)."""
    if pg is None:
        url = f"sqlite:///{workdir}/bench.db"
        db = connect(url)
        upgrade(db)
        return db, url, None
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with connect(pg).engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = connect(pg, schema=schema)
    upgrade(db)
    return db, pg, schema


def _runtime(db: Database, hook: str) -> Runtime:
    pb = load_playbook(example_path("b2b"))
    rule = {"on": "stage_entered", "stage": "mql", "do": [{"notify": "ops@acme.test", "via": "webhook", "url": hook}]}
    rt = Runtime(db=db, playbook=pb.model_validate({**pb.model_dump(by_alias=True), "automation": [rule]}))
    install(rt)
    return rt


def _payload(url: str, i: int) -> dict[str, Any]:
    return {"url": url, "trigger": "stage_entered", "stage": "mql", "to": [{"email": "ops@acme.test"}],
            "lead": {"id": i, "name": f"Lead {i}"}, "at": datetime.now(UTC).isoformat()}  # fmt: skip


def _post_many(port: int, indices: range) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for i in indices:
        body = json.dumps(_payload("http://127.0.0.1/hook", i), sort_keys=True).encode()
        conn.request("POST", "/hook", body=body, headers={"Content-Type": "application/json",
                     "Idempotency-Key": f"b{i}", "X-Funnelbridge-Signature": sign(body, "s")})  # fmt: skip
        conn.getresponse().read()
    conn.close()


def baseline(receiver: Receiver, n: int, concurrency: int) -> float:
    """Seconds to POST n signed bodies from ``concurrency`` threads over keep-alive connections, no store: the
    transport ceiling for a worker with the same concurrency."""
    chunks = [range(k, n, concurrency) for k in range(concurrency)]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda c: _post_many(receiver.port, c), chunks))
    return time.perf_counter() - start


def throughput(rt: Runtime, receiver: Receiver, n: int) -> dict[str, float]:
    with rt.db.transaction() as conn:
        now = rt.clock.now()
        for i in range(n):
            enqueue(conn, key=f"t{i}", kind="webhook", payload=_payload(receiver.url, i), at=now)
    receiver.reset()
    start = time.perf_counter()
    summary = run_worker(rt, Settings(webhook_secret="s"), once=True, config=WorkerConfig(batch=200))
    elapsed = time.perf_counter() - start
    assert summary.delivered == n == len(receiver.arrivals), (summary, len(receiver.arrivals))
    return {"seconds": elapsed, "actions_per_s": n / elapsed}


def _contacts(rt: Runtime, m: int) -> None:
    """The leads the producer moves (SLA timers and notifications refer to them)."""
    now = datetime.now(UTC)
    rows = [{"email": f"lat{i}@corp.example", "first_name": f"Lat{i}", "created_at": now, "updated_at": now,
             "version": 1, "unsubscribed": False, "bounced": False} for i in range(m)]  # fmt: skip
    with rt.db.transaction() as conn:
        conn.execute(insert(contacts), rows)


def produce(url: str, schema: str | None, hook: str, m: int, rate: float, offset: int) -> None:
    """Child process: publish m StageEntered events at ``rate``/s (each writes a webhook action in its own
    transaction, as the lifecycle does) and print when each was published."""
    rt = _runtime(connect(url, schema=schema), hook)
    sent: dict[int, tuple[float, float]] = {}
    start = time.time()
    for i in range(m):
        if (pause := start + i / rate - time.time()) > 0:
            time.sleep(pause)
        at = datetime.now(UTC)
        with rt.db.transaction() as conn:
            rt.bus.publish(conn, StageEntered(offset + i + 1, at, "main", "mql", "mal", 1))
        sent[offset + i + 1] = (at.timestamp(), time.time())
    print(json.dumps({"sent": sent, "seconds": time.time() - start}), flush=True)


def latency(
    rt: Runtime, store: tuple[str, str | None], receiver: Receiver, m: int, rate: float, poll: float, offset: int
) -> dict[str, float]:
    receiver.reset()
    stop = threading.Event()
    config = WorkerConfig(batch=200, poll=poll)
    worker = threading.Thread(target=run_worker, args=(rt, Settings(webhook_secret="s")),
                              kwargs={"config": config, "stop": stop}, daemon=True)  # fmt: skip
    worker.start()
    args = [sys.executable, __file__, "--produce", store[0], store[1] or "", receiver.url, str(m), str(rate),
            str(offset)]  # fmt: skip
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    sent = {int(k): v for k, v in report["sent"].items()}
    deadline = time.time() + 60
    while len(arrivals := receiver.arrivals) < m and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    worker.join()
    by_contact = {int(k.split(":")[2]): v for k, v in arrivals.items()}
    waits = sorted((by_contact[c] - t[0]) * 1000 for c, t in sent.items() if c in by_contact)
    after_commit = sorted((by_contact[c] - t[1]) * 1000 for c, t in sent.items() if c in by_contact)
    q, qc = statistics.quantiles(waits, n=100), statistics.quantiles(after_commit, n=100)
    return {"events": m, "delivered": len(waits), "rate_per_s": rate, "achieved_rate_per_s": m / report["seconds"],
            "poll_s": poll, "p50_ms": q[49], "p99_ms": q[98], "max_ms": waits[-1],
            "from_commit_p50_ms": qc[49], "from_commit_p99_ms": qc[98]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-receiver"]:
        serve_receiver()
        return 0
    if argv[:1] == ["--produce"]:
        url, schema, hook, m, rate, offset = argv[1:7]
        produce(url, schema or None, hook, int(m), float(rate), int(offset))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="50,000 actions, 10,000 events at 1,000/s")
    parser.add_argument("--actions", type=int, default=None)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--rate", type=float, default=None, help="triggering events per second")
    parser.add_argument("--pg", default=None, help="PostgreSQL URL (default: a temporary SQLite store)")
    args = parser.parse_args(argv)
    n = args.actions or (50_000 if args.full else 5_000)
    m = args.events or (10_000 if args.full else 2_000)
    rate = args.rate or (1_000.0 if args.full else 400.0)
    receiver = Receiver()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db, url, schema = _store(args.pg, Path(tmp))
            rt = _runtime(db, receiver.url)
            base = baseline(receiver, n, WorkerConfig().concurrency)
            ours = throughput(rt, receiver, n)
            _contacts(rt, 2 * m)
            lat_default = latency(rt, (url, schema), receiver, m, rate, 0.2, 0)
            lat_fast = latency(rt, (url, schema), receiver, m, rate, 0.01, m)
            db.dispose()
            if schema is not None:
                with connect(url).engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        receiver.close()
    result = {
        "store": "postgresql" if args.pg else "sqlite",
        "actions": n,
        "concurrency": WorkerConfig().concurrency,
        "load_average_1m": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "baseline_raw_keepalive_post": {"seconds": base, "actions_per_s": n / base},
        "funnelbridge_one_worker": {**ours, "ratio_to_baseline": ours["actions_per_s"] / (n / base)},
        "latency_default_poll": lat_default,
        "latency_10ms_poll": lat_fast,
        "python": sys.version.split()[0],
    }
    name = "outbox_pg.json" if args.pg else "outbox.json"
    RESULTS.with_name(name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
