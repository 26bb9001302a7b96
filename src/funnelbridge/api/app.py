"""The FastAPI application factory. Routes are thin: parse, call one service function, shape the response."""

from __future__ import annotations

import importlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from funnelbridge import __version__
from funnelbridge.activity import drain
from funnelbridge.api.auth import KeyCache, RateLimiter
from funnelbridge.api.fastintake import IntakeFastPath
from funnelbridge.api.limits import BodyLimit
from funnelbridge.api.problems import install_problem_handlers
from funnelbridge.ingest.groupcommit import GroupCommitter
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings

__all__ = ["DRAIN_STEP", "ROUTER_MODULES", "create_app"]

# Each module exposes `router`; optional ones (web dashboard, routes needing other extras) are skipped if absent.
# Intake comes first: requests are matched against routes in order, and event intake is the hot path.
ROUTER_MODULES = (
    "funnelbridge.api.routes.intake",
    "funnelbridge.api.routes.admin",
    "funnelbridge.api.routes.resources",
    "funnelbridge.api.routes.commands",
    "funnelbridge.api.routes.leads",
    "funnelbridge.api.routes.reports",
    "funnelbridge.api.routes.playbook",
)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While the server runs: the intake writer (group commit of single events), which also scores and advances
    the contacts event intake queued, a few at a time whenever no request waits (the activity drainer's work;
    requests first). On shutdown it stores every event already accepted; queued contacts stay queued."""
    interval = app.state.settings.drain_interval
    rt = app.state.rt
    idle = partial(_drain_step, rt) if interval > 0 else None
    committer = GroupCommitter(rt, idle=idle, idle_interval=interval or 0.25)
    committer.start()
    app.state.committer = committer
    try:
        yield
    finally:
        committer.stop()
        app.state.committer = None


DRAIN_STEP = 10
"""Contacts scored per step of the intake writer's idle work: a step delays the requests that arrive meanwhile."""


def _drain_step(rt: Runtime) -> bool:
    return drain(rt, batch=DRAIN_STEP, max_batches=1).contacts == DRAIN_STEP


def create_app(rt: Runtime, settings: Settings | None = None, *, fast_intake: bool = True) -> FastAPI:
    """Build the API (and the dashboard, when installed) over a Runtime. ``fast_intake``: single events take the
    short way to the group committer (:mod:`funnelbridge.api.fastintake`); off, they go through the router."""
    settings = settings or Settings()
    app = FastAPI(
        lifespan=_lifespan,
        title="funnelbridge",
        version=__version__,
        description="The revenue funnel as one pipeline: contacts, events, the sales queue, deals and analytics.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.rt = rt
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.ingest_rate, settings.ingest_burst)
    app.state.key_cache = KeyCache()
    install_problem_handlers(app)
    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router)
    _install_web(app, settings)
    if fast_intake:
        app.add_middleware(IntakeFastPath, state=app.state)
    app.add_middleware(BodyLimit, default=settings.max_body_bytes, batch=settings.max_batch_bytes)
    return app


def _install_web(app: FastAPI, settings: Settings) -> None:
    from starlette.middleware.sessions import SessionMiddleware

    try:
        web = importlib.import_module("funnelbridge.web")
    except ModuleNotFoundError:
        web = None
    if web is not None:
        web.install(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key or secrets.token_hex(32),
        session_cookie="funnelbridge_session",
        same_site="lax",
        https_only=False,
    )
