"""funnelbridge: the whole revenue funnel as one pipeline, with the playbook as code.

The public API is what ``__all__`` lists; everything else is internal and may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

from funnelbridge.errors import (
    ConfigError,
    ConflictError,
    DeliveryError,
    DomainError,
    EngineError,
    FunnelbridgeError,
    IllegalTransitionError,
    InputError,
    ModelError,
    NotFoundError,
    PlaybookError,
    StoreBusyError,
    StoreError,
)
from funnelbridge.settings import Settings, load_settings

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
    "Settings",
    "StoreBusyError",
    "StoreError",
    "__version__",
    "load_settings",
]
