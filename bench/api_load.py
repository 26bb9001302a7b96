"""API load benchmark: single-event POSTs (wrk, p50/p99 latency) and batch intake (events/s) into SQLite, each
against a minimal FastAPI endpoint that does nothing, served the same way in the same run (the ratio is the figure).

    python bench/api_load.py [--seconds 10] [--connections 16] [--batches 20] [--batch-size 1000]

Measured three ways: the real server with its activity drainer scoring in the background, the same server with
intake only (drainer off), and the no-op baseline. Needs Debian's ``wrk`` for the single-event part
(``apt-get install wrk``). Results: bench/results/api_load.json.
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


def _measured(pid: int, run: Any, *args: Any) -> dict[str, Any]:
    """Run one load phase; add the server's CPU seconds and the load average before and after to its result."""
    load_before, cpu_before = os.getloadavg()[0], _cpu_seconds(pid)
    result: dict[str, Any] = run(*args)
    result["server_cpu_s"] = _cpu_seconds(pid) - cpu_before
    result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    if "events" in result:
        result["server_cpu_ms_per_1000_events"] = 1e6 * result["server_cpu_s"] / result["events"]
    else:
        result["server_cpu_ms_per_request"] = 1e3 * result["server_cpu_s"] / max(1, result["requests"])
    return result


@contextmanager
def _server(kind: str, db_url: str) -> Any:
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.api_server", kind, db_url, str(port)], cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(base + "/health" if kind != "noop" else base + "/docs", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=20)


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


def _batches(url: str, key: str, batches: int, size: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {key}"}
    payloads = [
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
        for b in range(batches)
    ]
    accepted = 0
    with httpx.Client(timeout=300) as client:
        began = time.perf_counter()
        for batch in payloads:
            response = client.post(url, json=batch, headers=headers)
            response.raise_for_status()
            accepted += int(response.json().get("accepted", size))
        elapsed = time.perf_counter() - began
    return {
        "events": batches * size,
        "accepted": accepted,
        "seconds": elapsed,
        "events_per_s": batches * size / elapsed,
    }


def _ratios(result: dict[str, Any]) -> None:
    """Each intake figure over the baseline's: throughput (higher is better) and server CPU (lower is better)."""
    for name in ("batch", "batch_intake_only"):
        result[f"{name}_ratio_to_baseline"] = result[name]["events_per_s"] / result["baseline_batch"]["events_per_s"]
        result[f"{name}_cpu_ratio"] = (
            result[name]["server_cpu_ms_per_1000_events"] / result["baseline_batch"]["server_cpu_ms_per_1000_events"]
        )
    for name in ("single", "single_intake_only"):
        if name in result:
            base = result["baseline_single"]
            result[f"{name}_ratio_to_baseline"] = result[name]["requests_per_s"] / base["requests_per_s"]
            result[f"{name}_cpu_ratio"] = result[name]["server_cpu_ms_per_request"] / base["server_cpu_ms_per_request"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": "2 cores; server and load generator share them",
        "seconds": args.seconds,
        "connections": args.connections,
    }
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        has_wrk = shutil.which("wrk") is not None
        for kind, batch_name, single_name in (
            ("funnelbridge", "batch", "single"),
            ("intake", "batch_intake_only", "single_intake_only"),
            ("noop", "baseline_batch", "baseline_single"),
        ):
            url, key = _store(tmp / kind)
            with _server(kind, url) as (base, pid):
                path = "/noop" if kind == "noop" else "/api/v1/events"
                batch_path = "/noop" if kind == "noop" else "/api/v1/events/batch"
                result[batch_name] = _measured(pid, _batches, base + batch_path, key, args.batches, args.batch_size)
                if has_wrk:
                    result[single_name] = _measured(pid, _wrk, base + path, key, args.seconds, args.connections, tmp)
    _ratios(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
