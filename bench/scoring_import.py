"""Import-time benchmark: ``import funnelbridge.scoring.service`` (what the activity flow's first drain imports)
in a fresh process, the current code against a baseline git revision, runs alternating in the same minutes.

    python -m bench.scoring_import [--baseline REV] [--current REV] [--runs 10]

Each run is ``python -X importtime -c "import funnelbridge.scoring.service"`` with the version's ``src`` first on
``PYTHONPATH`` (``git archive`` of the revision; the working tree when ``--current`` is not given). Recorded per
version: the cumulative import time of the module (µs, from ``-X importtime``), the child's CPU seconds
(``RUSAGE_CHILDREN``, user + system) and whether pyarrow / ibis / ``scoring.rescore`` were imported; the load
average before and after. Results: bench/results/scoring_import.json, with ``cpu_ratio`` and ``import_ratio`` =
baseline / current (medians; above 1: the current code imports faster).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "scoring_import.json"
MODULE = "funnelbridge.scoring.service"
PROBE = (
    f"import sys, {MODULE}; "
    "print(sorted(m for m in ('pyarrow', 'ibis', 'funnelbridge.scoring.rescore') if m in sys.modules))"
)


def _src_of(rev: str | None, into: Path) -> Path:
    """The ``src`` directory of ``rev`` (extracted under ``into``), or the working tree's when ``rev`` is None."""
    if rev is None:
        return ROOT / "src"
    archive = into / f"{rev}.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, stdout=out, check=True)
    target = into / rev
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target / "src"


def _sha(rev: str) -> str:
    out = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(src: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    before = _child_cpu()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    cpu = _child_cpu() - before
    line = next(x for x in reversed(done.stderr.splitlines()) if x.rstrip().endswith(f"| {MODULE}"))
    return {"import_us": int(line.split("|")[1]), "cpu_s": cpu, "loaded": json.loads(done.stdout.replace("'", '"'))}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "import_us_median": statistics.median(r["import_us"] for r in runs),
        "cpu_s_median": statistics.median(r["cpu_s"] for r in runs),
        "cpu_s_total": sum(r["cpu_s"] for r in runs),
        "loaded": runs[-1]["loaded"],
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", default="HEAD")
    parser.add_argument("--current", default=None, help="a revision (default: the working tree)")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        srcs = {"baseline": _src_of(args.baseline, Path(tmp)), "current": _src_of(args.current, Path(tmp))}
        load_start = os.getloadavg()
        runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "current": []}
        for i in range(args.runs):
            for name in ("baseline", "current") if i % 2 == 0 else ("current", "baseline"):
                runs[name].append(_run(srcs[name]))
        load_end = os.getloadavg()
    base, cur = _summary(runs["baseline"]), _summary(runs["current"])
    result = {
        "module": MODULE,
        "baseline": _sha(args.baseline),
        "current": _sha(args.current) if args.current else "working tree",
        "load_start": load_start,
        "load_end": load_end,
        "import_ratio": base["import_us_median"] / cur["import_us_median"],
        "cpu_ratio": base["cpu_s_median"] / cur["cpu_s_median"],
        "versions": {"baseline": base, "current": cur},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    short = {k: v for k, v in result.items() if k != "versions"}
    medians = {n: {k: v for k, v in s.items() if k != "runs"} for n, s in result["versions"].items()}
    print(json.dumps(short | {"medians": medians}))


if __name__ == "__main__":
    main()
