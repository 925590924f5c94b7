"""Thought signatures: issued on function calls of Gemini 3 models and required back on replay."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import orjson

from gemgate.emulator.google_errors import invalid_argument
from gemgate.emulator.models import ModelInfo

# A value clients send when they have lost a signature; Google accepts it without validation.
SKIP_VALIDATOR = "skip_thought_signature_validator"
_PREFIX = b"gsig1"
MISSING = (
    "Function call is missing a thought_signature in functionCall parts. This is required for "
    "tools to work correctly, and missing thought_signature may lead to degraded model "
    "performance. Additional data, function call `default_api:{name}` , position {position}. "
    "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)


def sign(secret: bytes, model: ModelInfo, call: dict[str, Any]) -> str:
    """The signature the model attaches to ``call`` (deterministic, bound to model and call)."""
    digest = hmac.new(secret, _signed_bytes(model, call), hashlib.sha256).digest()[:24]
    return base64.b64encode(_PREFIX + digest).decode()


def check_history(request: dict[str, Any], model: ModelInfo, secret: bytes) -> None:
    """Reject a replayed current turn whose function calls lost or altered their signatures."""
    if not model.requires_thought_signatures:
        return
    contents = request.get("contents") or []
    for position in range(_current_turn_start(contents), len(contents)):
        content = contents[position]
        if content.get("role") != "model":
            continue
        calls = [part for part in content.get("parts") or [] if "functionCall" in part]
        if calls and "thoughtSignature" not in calls[0]:
            name = calls[0]["functionCall"].get("name", "")
            raise invalid_argument(MISSING.format(name=name, position=position + 1))
        for part in calls:
            if "thoughtSignature" in part and not _is_valid(secret, model, part):
                raise invalid_argument("Corrupted thought signature.")


def _current_turn_start(contents: list[dict[str, Any]]) -> int:
    """Index of the last user content that is a real prompt (not only function responses)."""
    for index in range(len(contents) - 1, -1, -1):
        content = contents[index]
        parts = content.get("parts") or []
        if content.get("role", "user") == "user" and any(
            "functionResponse" not in part for part in parts
        ):
            return index
    return 0


def _is_valid(secret: bytes, model: ModelInfo, part: dict[str, Any]) -> bool:
    signature = str(part["thoughtSignature"])
    if signature == SKIP_VALIDATOR:
        return True
    try:
        raw = base64.b64decode(signature + "=" * (-len(signature) % 4))
    except (binascii.Error, ValueError):
        return False
    expected = base64.b64decode(sign(secret, model, part["functionCall"]))
    return hmac.compare_digest(raw, expected)


def _signed_bytes(model: ModelInfo, call: dict[str, Any]) -> bytes:
    fields = {"model": model.id, "name": call.get("name"), "args": call.get("args") or {}}
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
