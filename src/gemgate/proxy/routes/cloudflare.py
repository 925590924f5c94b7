"""The hosted-gateway URL shape (Cloudflare AI Gateway's): ANY
/v1/{account_id}/{gateway_id}/google-ai-studio/{path}, the Gemini API passed through with the
caller's gateway key swapped for the real one, and POST …/compat/chat/completions, OpenAI chat
completions for `google-ai-studio/<model>` names. The account and gateway ids are not checked."""

from __future__ import annotations

from aiohttp import web

from gemgate import errors
from gemgate.proxy.pass_through_paths import checked_path
from gemgate.proxy.state import app_state
from gemgate.proxy.targets import ModelTargets, Target
from gemgate.proxy.upstream import relay_to_gemini

HOSTED_PREFIX = "/v1/{account_id}/{gateway_id}"
GOOGLE_AI_STUDIO = "google-ai-studio"
GOOGLE_AI_STUDIO_PATH = f"{HOSTED_PREFIX}/{GOOGLE_AI_STUDIO}/{{path:.*}}"
COMPAT_CHAT_PATH = f"{HOSTED_PREFIX}/compat/chat/completions"
# The compat endpoint names models `<provider>/<model>`; Google AI Studio is the Gemini API.
COMPAT_PROVIDER = GOOGLE_AI_STUDIO + "/"


async def google_ai_studio(request: web.Request) -> web.StreamResponse:
    """Forward the request to the configured Gemini API and stream its answer back."""
    return await relay_to_gemini(request, app_state(request), _forwarded_path(request))


def _forwarded_path(request: web.Request) -> str:
    """The path after …/google-ai-studio as the caller spelled it (escapes kept), once it is
    proven to name only a resource on the Gemini API; a Google-shaped 400 otherwise."""
    # '', 'v1', account id, gateway id, 'google-ai-studio', the Gemini API path
    parts = request.raw_path.partition("?")[0].split("/", 5)
    # An absolute-form target (`http://host/...`) or a fragment never names a Google resource.
    if "#" in request.raw_path or len(parts) != 6 or parts[:2] != ["", "v1"] or parts[4] != GOOGLE_AI_STUDIO:  # fmt: skip
        raise errors.BadRequestError(
            f"Invalid pass-through path: give it as {HOSTED_PREFIX}/{GOOGLE_AI_STUDIO}/resource."
        )
    return checked_path("/" + parts[5])


def pick_compat_model(targets: ModelTargets, model: str) -> Target:
    """The target of a compat model name: `google-ai-studio/<m>` is the Gemini model `<m>`."""
    name = model.removeprefix(COMPAT_PROVIDER)
    if name == model or not name:
        raise errors.NotFoundError(
            f"model {model!r} is not served here: name models `{COMPAT_PROVIDER}<model>`",
            code="model_not_found",
        )
    return targets.pick_native(name)
