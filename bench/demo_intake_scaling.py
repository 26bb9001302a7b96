"""How event intake's cost grows with the demo's size: ``bench/demo.py``'s engine run (one process per size and
code version) of the current code and of a git revision's, CPU seconds by part — intake's per event above all —
with the load average. Versions of one size may run at the same time (``--parallel``): both then share the same
load. Results are added to ``bench/results/demo_intake_scaling.json`` (not demo.json).

    python -m bench.demo_intake_scaling --sizes 100000,300000 --baseline REV [--current REV] [--parallel]

``--current REV`` runs a committed revision as the current code instead of the working tree (other people's
uncommitted changes then stay out of the comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "demo_intake_scaling.json"


def _source(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _start(src: Path | None, people: int, days: int, workdir: Path) -> subprocess.Popen[str]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(ROOT / "bench" / "demo.py"), "--child", "engine", "--sizes", str(people),
           "--days", str(days), "--workdir", str(workdir)]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    cpu = run["cpu_seconds_by_part"]
    return {
        "events": run["events"],
        "cpu_seconds": round(run["cpu_seconds"], 1),
        "wall_seconds": round(run["seconds"], 1),
        "intake_cpu_seconds": cpu["intake"],
        "intake_cpu_us_per_event": round(1e6 * cpu["intake"] / run["events"], 1),
        "intake_written_mb": run["timing_by_part"].get("written_mb", {}).get("intake"),
        "cpu_seconds_by_part": cpu,
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
    }


def measure(
    people: int, days: int, baseline: str, parallel: bool, tmp: Path, current: str | None = None
) -> dict[str, Any]:
    load_before = _load()
    src = _source(baseline, tmp / "rev")
    runs: dict[str, Any] = {}
    order = [("baseline", src), ("current", _source(current, tmp / "cur") if current else None)]
    procs = {name: _start(code, people, days, tmp / name) for name, code in order} if parallel else {}
    for name, code in order:
        proc = procs.get(name) or _start(code, people, days, tmp / name)
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"{name} run failed ({proc.returncode})")
        runs[name] = _summary(json.loads(out.strip().splitlines()[-1]))
    base, cur = runs["baseline"], runs["current"]
    return {
        "people": people,
        "days": days,
        "baseline_revision": baseline,
        "current_revision": current or "working tree",
        "parallel": parallel,
        "load_average": {
            "before": load_before,
            "after": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
        },
        **runs,
        "intake_cpu_ratio": round(base["intake_cpu_seconds"] / cur["intake_cpu_seconds"], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--baseline", required=True, help="git revision of the code to compare with")
    parser.add_argument("--current", help="git revision to run as the current code (default: the working tree)")
    parser.add_argument("--parallel", action="store_true", help="run both versions of a size at the same time")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    for people in (int(s) for s in args.sizes.split(",") if s):
        with tempfile.TemporaryDirectory(prefix="fb-intake-scaling-") as tmp:
            run = measure(people, args.days, args.baseline, args.parallel, Path(tmp), args.current)
        print(json.dumps(run), flush=True)
        old = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {"runs": []}
        runs = [r for r in old["runs"] if (r["people"], r["days"]) != (people, args.days)] + [run]
        old["runs"] = sorted(runs, key=lambda r: (r["days"], r["people"]))
        args.out.write_text(json.dumps({"benchmark": "demo_intake_scaling", **old}, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
