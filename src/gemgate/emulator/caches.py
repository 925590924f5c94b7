"""Placeholder, replaced below."""

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
