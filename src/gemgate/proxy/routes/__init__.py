"""The gateway's route table: method, path → handler, nothing else."""

from __future__ import annotations

from aiohttp import web

from gemgate.proxy.middleware import by_surface
from gemgate.proxy.routes import gemini, health, openai, pass_through

NATIVE_VERSION = "{version:v1beta|v1|v1alpha}"

ROUTES: list[web.RouteDef] = [
    web.get("/health/liveliness", health.liveliness),
    web.get("/health/readiness", health.readiness),
    web.get("/metrics", health.metrics),
    *[
        route
        for prefix in ("", "/v1")
        for route in (
            web.post(f"{prefix}/chat/completions", openai.chat_completions),
            web.post(f"{prefix}/completions", openai.completions),
            web.post(f"{prefix}/embeddings", openai.embeddings),
        )
    ],
    web.get("/models", openai.list_models),
    web.get("/models/{model:.+}", openai.get_model),
    # Both APIs list models under /v1 (google-genai's default version): the caller picks the shape.
    web.get(
        "/{version:v1}/models", by_surface(google=gemini.list_models, openai=openai.list_models)
    ),
    web.get(
        "/{version:v1}/models/{model:.+}",
        by_surface(google=gemini.get_model, openai=openai.get_model),
    ),
    web.post(f"/{NATIVE_VERSION}/models/{{name}}", gemini.call_model),
    web.get("/{version:v1beta|v1alpha}/models", gemini.list_models),
    web.get("/{version:v1beta|v1alpha}/models/{model}", gemini.get_model),
    web.route("*", pass_through.GEMINI_PREFIX + "/{path:.*}", pass_through.gemini),
]
