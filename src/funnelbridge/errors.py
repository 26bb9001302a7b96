"""The one exception hierarchy of funnelbridge.

Every error the library raises on purpose derives from :class:`FunnelbridgeError`; the CLI prints its message as
one line (traceback only with ``--debug``), the REST API maps it to an RFC 9457 problem response.

::

    FunnelbridgeError
    ├── ConfigError              a setting or the environment is wrong
    ├── PlaybookError            the playbook YAML is invalid (file, line, field, reason)
    ├── InputError               a record from outside is invalid (which record, which field, why)
    ├── NotFoundError            a contact, deal, user ... does not exist
    ├── DomainError              a command breaks a business rule
    │   ├── IllegalTransitionError   a stage move the transition table forbids (names the rule)
    │   └── ConflictError            a concurrent change won first (optimistic version / lock)
    ├── StoreError               the database is unreachable or not migrated
    │   └── StoreBusyError           it cannot take this write just now (retry after ``retry_after`` seconds)
    ├── EngineError              an analytics engine cannot run an operation
    ├── ModelError               predictive scoring cannot train or score (e.g. too little history)
    └── DeliveryError            an outbox action could not be delivered (retried by the worker)
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConflictError",
    "DeliveryError",
    "DomainError",
    "EngineError",
    "FunnelbridgeError",
    "IllegalTransitionError",
    "InputError",
    "ModelError",
    "NotFoundError",
    "PlaybookError",
    "StoreBusyError",
    "StoreError",
]


class FunnelbridgeError(Exception):
    """Base class of every error funnelbridge raises on purpose."""


class ConfigError(FunnelbridgeError):
    """A setting or the environment is wrong."""


class PlaybookError(FunnelbridgeError):
    """The playbook is invalid. ``str()`` reads ``file:line field: reason`` for each problem."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class InputError(FunnelbridgeError):
    """A record from outside is invalid: which record, which field, why."""

    def __init__(self, reason: str, *, record: str | None = None, field: str | None = None) -> None:
        self.reason, self.record, self.field = reason, record, field
        where = " ".join(p for p in (record, field) if p)
        super().__init__(f"{where}: {reason}" if where else reason)


class NotFoundError(FunnelbridgeError):
    """The thing asked for does not exist."""


class DomainError(FunnelbridgeError):
    """A command breaks a business rule."""


class IllegalTransitionError(DomainError):
    """A stage move that the transition table forbids."""


class ConflictError(DomainError):
    """A concurrent change won first; reload and retry."""


class StoreError(FunnelbridgeError):
    """The database is unreachable, or not migrated to the current schema."""


class StoreBusyError(StoreError):
    """The store cannot take this write just now — e.g. a bulk load is building the unique index the write needs;
    retrying after ``retry_after`` seconds may succeed (the REST API answers 503 with ``Retry-After``)."""

    def __init__(self, message: str, *, retry_after: int = 30) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class EngineError(FunnelbridgeError):
    """An analytics engine cannot run the requested operation."""


class ModelError(FunnelbridgeError):
    """Predictive scoring cannot train or score."""


class DeliveryError(FunnelbridgeError):
    """An outbox action could not be delivered; the worker retries it."""
