"""The gateway's route table: path → handler, nothing else."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from gemgate.proxy.routes import health, pass_through

# Starlette defaults a function route to GET; a pass-through takes every method.
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

ROUTES: list[BaseRoute] = [
    Route("/health/liveliness", health.liveliness, methods=["GET"]),
    Route("/health/readiness", health.readiness, methods=["GET"]),
    Route(pass_through.GEMINI_PREFIX + "/{path:path}", pass_through.gemini, methods=ALL_METHODS),
]
