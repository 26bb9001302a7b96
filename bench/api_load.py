"""API load benchmark: single-event POSTs (wrk, p50/p99 latency) and batch intake (events/s) into SQLite, each
against a minimal FastAPI endpoint that does nothing, served the same way in the same run (the ratio is the figure).

    python -m bench.api_load [--seconds 10] [--connections 16] [--batches 20] [--batch-size 1000]
                             [--batch-clients 2]

Measured four ways: the no-op baseline; the real server with intake only (drainer off: the issue's figure);
the same server beside a separate ``funnelbridge worker`` process that scores the queued contacts; and the server
scoring them itself (the default: its intake writer drains the queue whenever no request waits).
``queue_pending_after`` is how many contacts still waited for scoring when a phase ended, ``catch_up_*`` how fast
they were then scored with no request coming. Needs Debian's ``wrk`` for the single-event part
(``apt-get install wrk``). Results: bench/results/api_load.json, with ``targets`` (the issue's) and whether each
phase met them in this run.
Traffic goes to 127.0.0.1 only, and every run is bounded in time.

The machine is shared, so each phase also records the load average and the server process's CPU seconds (from
/proc): ``server_cpu_ms`` per request or per 1,000 events is far steadier than wall-clock rates under load, and
``*_cpu_ratio`` compares it with the baseline's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "api_load.json"
NOW = datetime(2026, 3, 2, tzinfo=UTC)

LUA = """
counter = 0
request = function()
  counter = counter + 1
  local key = string.format("wrk-%d-%d-%d", math.random(1, 1e9), counter, os.time())
  local body = string.format('{"type":"page","event":"page_view","anonymous_id":"v-%d",'
    .. '"timestamp":"2026-03-01T09:00:00Z","properties":{"path":"/blog/%d"},"idempotency_key":"%s"}',
    counter %% 5000, counter %% 50, key)
  return wrk.format("POST", nil, {["Content-Type"]="application/json", ["Authorization"]="Bearer " .. KEY}, body)
end
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its finished children (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _measured(pids: list[int], run: Any, *args: Any) -> dict[str, Any]:
    """Run one load phase; add the server's CPU seconds (and a worker's, when there is one), the process CPU
    seconds of this load generator, and the load average before and after to its result."""
    load_before, cpu_before = os.getloadavg()[0], [_cpu_seconds(pid) for pid in pids]
    own_before = time.process_time()
    result: dict[str, Any] = run(*args)
    cpu = [_cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
    result["server_cpu_s"] = cpu[0]
    if len(cpu) > 1:
        result["worker_cpu_s"] = cpu[1]
    result["load_generator_cpu_s"] = time.process_time() - own_before
    result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    if "events" in result:
        result["server_cpu_ms_per_1000_events"] = 1e6 * result["server_cpu_s"] / result["events"]
    else:
        result["server_cpu_ms_per_request"] = 1e3 * result["server_cpu_s"] / max(1, result["requests"])
    return result


@contextmanager
def _server(kind: str, db_url: str, worker_batch: int = 0) -> Any:
    """The server for ``kind`` (see bench/api_server.py; ``worker`` is intake plus a separate ``funnelbridge
    worker`` process scoring the queued contacts); yields its base URL and the pids to measure."""
    port = _port()
    serving = "intake" if kind == "worker" else kind
    procs = [subprocess.Popen([sys.executable, "-m", "bench.api_server", serving, db_url, str(port)], cwd=ROOT)]
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(base + "/health" if kind != "noop" else base + "/docs", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        if kind == "worker":
            procs.append(_worker(db_url, worker_batch))
        yield base, [proc.pid for proc in procs]
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)


def _worker(db_url: str, batch: int) -> subprocess.Popen[bytes]:
    """``funnelbridge worker`` on the bench's store (it drains the activity queue besides the outbox)."""
    env = {
        **os.environ,
        "FUNNELBRIDGE_DATABASE_URL": db_url,
        "FUNNELBRIDGE_PLAYBOOK": str(ROOT / "src" / "funnelbridge" / "playbook" / "examples" / "b2b.yaml"),
    }
    cli = Path(sys.executable).parent / "funnelbridge"
    command = [str(cli), "worker", "--batch", str(batch)]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def _catch_up(db_url: str, pids: list[int], limit: float) -> dict[str, Any]:
    """After the load: how fast the drainer scores the contacts left queued, with no request coming (up to
    ``limit`` seconds); CPU seconds of the server and of a worker meanwhile."""
    before, cpu_before = _pending(db_url), [_cpu_seconds(pid) for pid in pids]
    began = time.perf_counter()
    left = before
    while left and time.perf_counter() - began < limit:
        time.sleep(0.5)
        left = _pending(db_url)
    elapsed = time.perf_counter() - began
    return {
        "queued_at_start": before,
        "scored": before - left,
        "seconds": elapsed,
        "contacts_per_s": (before - left) / elapsed,
        "cpu_s": [_cpu_seconds(pid) - cpu for pid, cpu in zip(pids, cpu_before, strict=True)],
        "load_average": round(os.getloadavg()[0], 2),
    }


def _pending(db_url: str) -> int:
    """Contacts still waiting in the activity queue (what the drainer has not caught up with)."""
    from funnelbridge.activity import pending
    from funnelbridge.store import connect

    db = connect(db_url)
    try:
        with db.read() as conn:
            return pending(conn)
    finally:
        db.dispose()


def _store(tmp: Path) -> tuple[str, str]:
    from funnelbridge.apikeys import create_api_key
    from funnelbridge.store import connect
    from funnelbridge.store.migrate import upgrade

    tmp.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp / 'load.db'}"
    db = connect(url)
    upgrade(db)
    key = create_api_key(db, "load", "ingest", NOW)[0]
    db.dispose()
    return url, key


def _seconds(text: str) -> float:
    found = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        return float("nan")
    value, unit = found.groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def _wrk(url: str, key: str, seconds: int, connections: int, tmp: Path) -> dict[str, float]:
    script = tmp / "post.lua"
    script.write_text(f'KEY = "{key}"\n' + LUA.replace("%%", "%"))
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = _seconds(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _seconds(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": total,
        "requests_per_s": rps,
        "p50_ms": p50 * 1e3,
        "p99_ms": p99 * 1e3,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def _batches(url: str, key: str, batches: int, size: int, clients: int) -> dict[str, float]:
    """POST ``batches`` batches of ``size`` events from ``clients`` concurrent connections; the bodies are encoded
    before the clock starts (as wrk builds its requests), so the figure is the server's."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bodies = [
        json.dumps(
            [
                {
                    "type": "track",
                    "event": "email_open",
                    "anonymous_id": f"b-{(b * size + i) % 20000}",
                    "timestamp": "2026-03-01T10:00:00Z",
                    "idempotency_key": f"batch-{b}-{i}",
                }
                for i in range(size)
            ]
        ).encode()
        for b in range(batches)
    ]

    def send(share: list[bytes]) -> int:
        accepted = 0
        with httpx.Client(timeout=300) as client:
            for body in share:
                response = client.post(url, content=body, headers=headers)
                response.raise_for_status()
                accepted += int(response.json().get("accepted", size))
        return accepted

    with ThreadPoolExecutor(clients) as pool:
        began = time.perf_counter()
        accepted = sum(pool.map(send, [bodies[i::clients] for i in range(clients)]))
        elapsed = time.perf_counter() - began
    return {
        "events": batches * size,
        "clients": clients,
        "accepted": accepted,
        "seconds": elapsed,
        "events_per_s": batches * size / elapsed,
    }


WORKER_BATCH = 10  # short transactions: intake in the other process waits for SQLite's write lock meanwhile
PHASES = (  # server kind, result name of the batch phase, of the single-event phase
    ("noop", "baseline_batch", "baseline_single"),
    ("intake", "batch_intake_only", "single_intake_only"),
    ("worker", "batch_with_worker", "single_with_worker"),
    ("funnelbridge", "batch", "single"),
)


def _ratios(result: dict[str, Any]) -> None:
    """Each intake figure over the baseline's: throughput (higher is better) and server CPU (lower is better)."""
    for name in ("batch", "batch_intake_only", "batch_with_worker"):
        result[f"{name}_ratio_to_baseline"] = result[name]["events_per_s"] / result["baseline_batch"]["events_per_s"]
        base_cpu = result["baseline_batch"]["server_cpu_ms_per_1000_events"]  # 0 below /proc's 10 ms resolution
        result[f"{name}_cpu_ratio"] = result[name]["server_cpu_ms_per_1000_events"] / base_cpu if base_cpu else None
    for name in ("single", "single_intake_only", "single_with_worker"):
        if name in result:
            base = result["baseline_single"]
            result[f"{name}_ratio_to_baseline"] = result[name]["requests_per_s"] / base["requests_per_s"]
            result[f"{name}_cpu_ratio"] = result[name]["server_cpu_ms_per_request"] / base["server_cpu_ms_per_request"]


TARGETS = {"single_requests_per_s": 1500.0, "single_p99_ms": 50.0, "batch_events_per_s": 10_000.0}


def _targets(result: dict[str, Any]) -> None:
    """The issue's targets and, per intake phase, whether this run met them."""
    result["targets"] = TARGETS
    for suffix in ("_intake_only", "_with_worker", ""):
        single, batch = result.get(f"single{suffix}"), result[f"batch{suffix}"]
        met = {"batch": batch["events_per_s"] >= TARGETS["batch_events_per_s"]}
        if single is not None:
            met["single"] = single["requests_per_s"] >= TARGETS["single_requests_per_s"]
            met["single_p99"] = single["p99_ms"] < TARGETS["single_p99_ms"]
        result[f"met{suffix or '_with_drainer_in_process'}"] = met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--servers", nargs="+", default=[p[0] for p in PHASES], help="phases to run (trials; ratios need all)"
    )
    parser.add_argument("--worker-batch", type=int, default=WORKER_BATCH, help="contacts scored per transaction")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument("--catch-up", type=float, default=20.0, help="seconds to watch the drainer catch up")
    parser.add_argument("--batch-clients", type=int, default=2, help="concurrent connections posting batches")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": "2 cores; server and load generator share them",
        "seconds": args.seconds,
        "connections": args.connections,
    }
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        has_wrk = shutil.which("wrk") is not None
        for kind, batch_name, single_name in [phase for phase in PHASES if phase[0] in args.servers]:
            url, key = _store(tmp / kind)
            with _server(kind, url, args.worker_batch) as (base, pids):
                path = "/noop" if kind == "noop" else "/api/v1/events"
                batch_path = "/noop" if kind == "noop" else "/api/v1/events/batch"
                result[batch_name] = _measured(
                    pids, _batches, base + batch_path, key, args.batches, args.batch_size, args.batch_clients
                )
                if has_wrk:
                    result[single_name] = _measured(pids, _wrk, base + path, key, args.seconds, args.connections, tmp)
                if kind != "noop":
                    result[single_name if has_wrk else batch_name]["queue_pending_after"] = _pending(url)
                if kind in ("worker", "funnelbridge"):
                    result[f"catch_up_{kind}"] = _catch_up(url, pids, args.catch_up)
    if set(args.servers) >= {p[0] for p in PHASES}:
        _ratios(result)
        _targets(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
