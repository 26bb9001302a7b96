"""Errors as RFC 9457 problem details (``application/problem+json``), one shape for every error."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from funnelbridge import errors

__all__ = ["STATUS_BY_ERROR", "install_problem_handlers", "problem", "problem_for"]

STATUS_BY_ERROR: tuple[tuple[type[errors.FunnelbridgeError], int], ...] = (
    (errors.NotFoundError, 404),
    (errors.ConflictError, 409),
    (errors.IllegalTransitionError, 422),
    (errors.InputError, 422),
    (errors.PlaybookError, 422),
    (errors.ModelError, 422),
    (errors.DomainError, 422),
    (errors.EngineError, 501),
    (errors.StoreError, 503),
    (errors.ConfigError, 500),
)

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    501: "Not implemented",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": _TITLES.get(status, "Error"), "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _slug(exc: Exception) -> str:
    name = type(exc).__name__.removesuffix("Error")
    return "/problems/" + "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls)), 500)
    extra: dict[str, Any] = {}
    if isinstance(exc, errors.InputError):
        extra = {k: v for k, v in (("record", exc.record), ("field", exc.field)) if v is not None}
    retry = {"Retry-After": str(exc.retry_after)} if isinstance(exc, errors.StoreBusyError) else None
    return problem(status, str(exc), type_=_slug(exc), instance=request.url.path, headers=retry, **extra)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, str(exc.detail), instance=request.url.path, headers=headers)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
    detail = "; ".join(f"{p['field']}: {p['reason']}" for p in problems[:5])
    return problem(
        422, detail or "invalid request", type_="/problems/validation", instance=request.url.path, errors=problems
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return problem(500, f"internal error ({type(exc).__name__})", instance=request.url.path)


async def problem_for(request: Request, exc: Exception) -> JSONResponse:
    """The problem response the installed handlers give for ``exc`` (for code answering outside the router)."""
    if isinstance(exc, errors.FunnelbridgeError):
        return await _domain(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return await _http(request, exc)
    return await _unexpected(request, exc)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.FunnelbridgeError, _domain)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _unexpected)
