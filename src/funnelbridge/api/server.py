"""Serving the app: uvicorn configured for the intake hot path, used by ``funnelbridge serve`` and the load bench.

Before it serves, the process's garbage collector is told to leave alone what start-up built
(:func:`gc.freeze`): the imported modules, the playbook, SQLAlchemy's and pydantic's caches — hundreds of
thousands of objects that live as long as the process. Without it every full (generation 2) collection walks
them all: 100-300 ms with the whole server stopped, several times a minute under load, which was the p99 latency
of event intake. Frozen, a full collection only walks what was allocated since.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any

__all__ = ["freeze_startup_objects", "serve"]


def freeze_startup_objects() -> None:
    """Collect once, then exempt every surviving object from future collections (see the module docstring)."""
    gc.collect()
    gc.freeze()


def serve(app: Any, host: str, port: int, *, log_level: str = "warning") -> None:
    """Serve ``app`` until interrupted: uvicorn with its fastest installed loop and HTTP parser (uvloop,
    httptools), no access log, start-up objects frozen; the app's lifespan flushes pending events on shutdown."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False)
    freeze_startup_objects()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it ends (uvicorn re-raises it once shut down)
        uvicorn.Server(config).run()
