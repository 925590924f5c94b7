"""Which pass-through requests are billed generations (`generateContent` and
`streamGenerateContent` on either API) and for which model, read from the path alone; pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

PassThroughProvider = Literal["gemini", "vertex_ai"]

_METHOD = r":(?P<method>generateContent|streamGenerateContent)"
_SEGMENT = r"[^/:]+"
# Developer API: `models/{m}` or `tunedModels/{m}` (https://ai.google.dev/api/generate-content).
_GEMINI_CALL = re.compile(
    rf"/?(?:v1|v1beta|v1alpha)/(?P<resource>(?P<kind>models|tunedModels)/(?P<model>{_SEGMENT})){_METHOD}"
)
# Vertex AI: a Google model in a project and location, the same without them (express mode), or
# a deployed endpoint, whose model the path does not name.
_VERTEX_CALL = re.compile(
    rf"/?(?:v1|v1beta1)/(?P<resource>"
    rf"(?:projects/{_SEGMENT}/locations/{_SEGMENT}/)?publishers/google/(?P<kind>models)/(?P<model>{_SEGMENT})"
    rf"|projects/{_SEGMENT}/locations/{_SEGMENT}/endpoints/{_SEGMENT}){_METHOD}"
)
_CALLS = {"gemini": _GEMINI_CALL, "vertex_ai": _VERTEX_CALL}


@dataclass(frozen=True, slots=True)
class MeteredCall:
    """A generation passed through to Google, whose usage is priced and logged."""

    provider: PassThroughProvider
    # The path's resource: `models/gemini-2.5-flash`, `tunedModels/t`, `projects/…/endpoints/1`.
    resource: str
    # The model id the path names; None for tuned models and endpoints (their answer names it).
    model: str | None
    is_stream: bool


def metered_call(provider: PassThroughProvider, path: str) -> MeteredCall | None:
    """The metered call ``path`` (after the route's prefix, without the query) makes, or None."""
    match = _CALLS[provider].fullmatch(unquote(path))
    if match is None:
        return None
    model = match["model"] if match["kind"] == "models" else None
    return MeteredCall(
        provider=provider,
        resource=match["resource"],
        model=model,
        is_stream=match["method"] == "streamGenerateContent",
    )
