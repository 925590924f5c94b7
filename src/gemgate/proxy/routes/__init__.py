"""The gateway's route table: method, path → handler, nothing else."""

from __future__ import annotations

from aiohttp import web

from gemgate.proxy.middleware import by_surface
from gemgate.proxy.routes import (
    cloudflare,
    gemini,
    health,
    keys,
    openai,
    pass_through,
    spend,
    vertex_live,
)

NATIVE_VERSION = "{version:v1beta|v1|v1alpha}"

ROUTES: list[web.RouteDef] = [
    web.get("/health/liveliness", health.liveliness),
    web.get("/health/readiness", health.readiness),
    web.get("/metrics", health.metrics),
    web.post("/key/generate", keys.generate),
    web.get("/key/info", keys.info),
    web.post("/key/update", keys.update),
    web.post("/key/delete", keys.delete),
    web.get("/key/list", keys.list_keys),
    web.post("/team/new", keys.new_team),
    web.get("/team/info", keys.team_info),
    web.get("/spend/logs", spend.logs),
    web.get("/spend/tags", spend.tags),
    web.get("/spend/report", spend.report),
    *[
        route
        for prefix in ("", "/v1")
        for route in (
            web.post(f"{prefix}/chat/completions", openai.chat_completions),
            web.post(f"{prefix}/completions", openai.completions),
            web.post(f"{prefix}/embeddings", openai.embeddings),
        )
    ],
    # The hosted-gateway shape comes before `/v1/models/{model:.+}`, so an account id of
    # "models" still reaches it; its fixed segments keep it clear of every other /v1 path.
    web.route("*", cloudflare.GOOGLE_AI_STUDIO_PATH, cloudflare.google_ai_studio),
    web.post(
        cloudflare.COMPAT_CHAT_PATH,
        openai.chat_completions_picking(cloudflare.pick_compat_model),
    ),
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
    # Live API sockets; before the /gemini catch-all, which would take them for REST calls.
    web.get(vertex_live.GEMINI_WS_PREFIX + "{path:.+}", vertex_live.gemini_live),
    *[web.get(f"/{prefix}/live", vertex_live.vertex_live) for prefix in ("vertex_ai", "vertex-ai")],
    web.route("*", pass_through.GEMINI_PREFIX + "/{path:.*}", pass_through.gemini),
    web.route(
        "*",
        f"/{pass_through.VERTEX_PREFIX}/{pass_through.DISCOVERY}/{{path:.*}}",
        pass_through.vertex_discovery,
    ),  # fmt: skip
    web.route(
        "*", f"/{pass_through.VERTEX_PREFIX}/{pass_through.VERTEX_PATH}", pass_through.vertex_ai
    ),  # fmt: skip
]
