"""The web dashboard (server-rendered, vendored assets, no CDN): ``install(app)`` adds its pages to the API app."""

from funnelbridge.web.app import install

__all__ = ["install"]
