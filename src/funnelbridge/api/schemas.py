"""API schemas (separate from the domain): what goes over the wire."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path
from pydantic import BaseModel, Field

__all__ = ["MAX_ID", "ApiKeyCreate", "ApiKeyCreated", "IdPath", "Page", "Problem"]

MAX_ID = 2**53
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="numeric id")]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="rows matching the filters")
    limit: int
    offset: int


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(pattern="^(admin|marketing|sales|read_only|ingest)$")


class ApiKeyCreated(BaseModel):
    key: str = Field(description="the secret; shown only once")
    prefix: str
    name: str
    role: str
