"""The demo's drain part at several sizes, this checkout against a baseline revision, measured in the same minutes.

    python -m bench.demo_drain_scaling --baseline d885501 --runs 100000:30,300000:10,100000:10

For each ``people:days`` run, ``bench/demo.py`` (this checkout's) runs the demo once with each version's ``src/``
first on ``PYTHONPATH`` (both exported with ``git archive``), the two versions side by side (two processes, so
both see the same load), and records per version the demo's CPU seconds by part (``DemoResult.cpu_seconds``), the
contacts the drain scored, the drain's CPU-us per contact scored and the load average before and after. CPU seconds
are the figure to compare (wall time on the shared machine is mostly waiting for a CPU); ``cpu_ratio`` = baseline /
current (above 1: the current code is cheaper). Writes ``bench/results/demo_drain_scaling.json``.

``--assemble DIR`` only collects results a previous invocation left in DIR (``{version}-{people}-d{days}.json``).
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
RESULTS = ROOT / "bench" / "results" / "demo_drain_scaling.json"
VERSIONS = ("baseline", "current")


def _export(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _start(src: Path, people: int, days: int, workdir: Path, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(ROOT / "bench" / "demo.py"), "--sizes", str(people), "--days", str(days),
               "--workdir", str(workdir), "--out", str(out)]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


def _summary(path: Path) -> dict[str, Any]:
    run = json.loads(path.read_text(encoding="utf-8"))["runs"][0]
    engine = run["engine"]
    scored = int(engine["engine"]["contacts_scored"])
    parts = engine["cpu_seconds_by_part"]
    return {
        "cpu_seconds": round(engine["cpu_seconds"], 2),
        "cpu_seconds_by_part": parts,
        "contacts_scored": scored,
        "events": engine["events"],
        "drain_cpu_us_per_contact": round(parts["drain"] / max(1, scored) * 1e6, 1),
        "wall_seconds": round(engine["seconds"], 1),
        "load_average": run["load_average"],
    }


def assemble(folder: Path, runs: list[tuple[int, int]], baseline: str, current: str) -> dict[str, Any]:
    out = []
    for people, days in runs:
        got = {v: _summary(folder / f"{v}-{people}-d{days}.json") for v in VERSIONS}
        base, cur = got["baseline"], got["current"]
        ratios = {part: round(base["cpu_seconds_by_part"][part] / max(1e-9, cur["cpu_seconds_by_part"][part]), 3)
                  for part in ("drain", "housekeeping", "intake")}  # fmt: skip
        out.append({"people": people, "days": days, **got, "cpu_ratio": ratios})
    return {"benchmark": "demo_drain_scaling", "baseline_revision": baseline, "current_revision": current,
            "cpus": os.cpu_count(), "runs": out}  # fmt: skip


def _rev(name: str) -> str:
    return subprocess.run(["git", "rev-parse", "--short", name], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--baseline", default="d885501")
    parser.add_argument("--current", default="HEAD")
    parser.add_argument("--runs", default="100000:30,300000:10,100000:10", help="people:days, comma-separated")
    parser.add_argument("--assemble", type=Path, help="only collect the results left in this folder")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    runs = [(int(p), int(d)) for p, d in (item.split(":") for item in args.runs.split(","))]
    baseline, current = _rev(args.baseline), _rev(args.current)
    if args.assemble is not None:
        result = assemble(args.assemble, runs, baseline, current)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            srcs = {"baseline": _export(baseline, folder / "baseline"), "current": _export(current, folder / "current")}
            for people, days in runs:
                started = [_start(srcs[v], people, days, folder / f"work-{v}", folder / f"{v}-{people}-d{days}.json")
                           for v in VERSIONS]  # fmt: skip
                if any(p.wait() for p in started):
                    raise SystemExit("a demo run failed")
            result = assemble(folder, runs, baseline, current)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
