"""The REST API (FastAPI, extra ``api``): ``create_app(runtime)``."""

from funnelbridge.api.app import create_app

__all__ = ["create_app"]
