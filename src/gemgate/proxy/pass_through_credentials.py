"""The Vertex AI upstream (host, project, location, credentials) for a pass-through request or a
Live session: the one entry point the pass-through routes and the Live relay call."""

from __future__ import annotations

from gemgate.proxy.state import AppState
from gemgate.proxy.vertex_credentials import VertexUpstream

__all__ = ["VertexUpstream", "vertex_upstream"]


async def vertex_upstream(
    state: AppState, project: str | None, location: str | None, caller_authorization: str | None
) -> VertexUpstream:
    """Where to send a Vertex AI request for ``project`` in ``location`` and with which
    credentials: a `use_in_pass_through` deployment's, the defaults, else
    ``caller_authorization`` as it came. None for project or location means the configured
    default. Raises AuthenticationError when nothing can authenticate, BadRequestError for a
    location that cannot name a host."""
    return await state.vertex_credentials.upstream(project, location, caller_authorization)
