"""The short way through the app for the hottest request: ``POST /api/v1/events`` with a JSON object and a
recently verified API key goes straight to the group committer, past the router, dependency injection, request
validation and the session and exception middleware — which cost more per request than storing the event.

It does what the route does, with the same functions (:func:`~funnelbridge.api.auth.admit` for the role and the
rate limit, :func:`~funnelbridge.api.routes.intake.ingest_one`, the same summary and problem responses), and
hands everything else to the app unchanged: another path, a query string (``?wait=true``), a body that is not
JSON, a key that is not in the cache (the route reads it from the store and caches it), a body that is not one
JSON object (the route answers with its validation problem; the body read here is replayed). The route remains
the OpenAPI description of the endpoint; tests send the same requests both ways and compare the answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from funnelbridge.api.auth import Permission, Principal, admit, bearer_token
from funnelbridge.api.problems import problem_for
from funnelbridge.api.routes.intake import EVENTS_PATH, ingest_one, summary_response
from funnelbridge.errors import FunnelbridgeError

__all__ = ["IntakeFastPath"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger(__name__)
_JSON = (b"application/json", b"application/json; charset=utf-8")


class IntakeFastPath:
    """ASGI middleware answering plain single-event intake requests itself (see the module docstring);
    ``state`` is the app's state (runtime, committer, key cache, rate limiter)."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = self._candidate(scope, receive)
        if request is None:
            await self.app(scope, receive, send)
            return
        who = self._caller(request)
        if who is None:
            await self.app(scope, receive, send)
            return
        await self._answer(request, who, send)

    def _candidate(self, scope: Scope, receive: Receive) -> Request | None:
        """The request, when it is a plain single-event POST the committer can take; None to pass it on."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != EVENTS_PATH:
            return None
        if scope["query_string"] or getattr(self.state, "committer", None) is None:
            return None
        request = Request(scope, receive)
        content_type = request.headers.get("content-type", "").lower().encode()
        return request if content_type in _JSON else None

    def _caller(self, request: Request) -> Principal | None:
        token = bearer_token(request)
        key = self.state.key_cache.get(token) if token else None
        return None if key is None else Principal(key.name, key.role, key_id=key.id)

    async def _answer(self, request: Request, who: Principal, send: Send) -> None:
        body = await request.body()  # over the size limit, BodyLimit (outside) answers 413
        payload = _object(body)
        if payload is None:  # not one JSON object: the route answers (bad JSON fails there before any check)
            await self.app(request.scope, _replay(body, request.receive), send)
            return
        try:
            admit(self.state, who, Permission.INGEST)
            response = summary_response(await ingest_one(self.state, payload))
        except Exception as exc:
            if not isinstance(exc, FunnelbridgeError | HTTPException):
                log.exception("event intake failed")
            response = await problem_for(request, exc)
        await response(request.scope, request.receive, send)


def _object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:  # includes bad UTF-8
        return None
    return payload if isinstance(payload, dict) else None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands over the body already read, then defers to the server's (disconnects)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
