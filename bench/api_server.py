"""Servers for bench/api_load.py (run as ``python -m bench.api_server funnelbridge|noop DB PORT``); not a benchmark.

``funnelbridge`` serves the real app over a SQLite store (with its activity drainer scoring in the background);
``intake`` the same app with the drainer off (intake alone); ``noop`` a minimal FastAPI endpoint that does nothing,
the baseline measured in the same run."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, Request


def _noop() -> FastAPI:
    app = FastAPI()

    @app.post("/noop")
    async def noop(request: Request) -> dict[str, int]:
        await request.body()
        return {"accepted": 1}

    return app


def _real(db_url: str, drain: bool) -> FastAPI:
    from funnelbridge.api import create_app
    from funnelbridge.playbook import load_example
    from funnelbridge.runtime import Runtime
    from funnelbridge.settings import Settings
    from funnelbridge.store import connect

    rt = Runtime(db=connect(db_url), playbook=load_example("b2b"))
    settings = Settings(ingest_rate=1e9, ingest_burst=10**9, max_batch_bytes=64 * 2**20, drain_interval=0.25 * drain)
    return create_app(rt, settings)


if __name__ == "__main__":
    kind, db, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = _noop() if kind == "noop" else _real(db, drain=kind == "funnelbridge")
    if kind == "noop":
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    else:
        from funnelbridge.api.server import serve

        serve(app, "127.0.0.1", port)
