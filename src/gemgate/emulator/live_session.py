"""LiveSession: one BidiGenerateContent conversation, answered turn by turn with compose_reply()."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import sys
from array import array
from dataclasses import dataclass, field
from typing import Any

from gemgate.emulator import media_outputs
from gemgate.emulator.answers import Reply, compose_reply
from gemgate.emulator.faults import NO_FAULT, Fault, find_fault
from gemgate.emulator.google_errors import (
    GoogleApiError,
    error_for_http_status,
    invalid_argument,
    model_not_found,
    rate_limited,
)
from gemgate.emulator.models import ModelInfo, find_model
from gemgate.emulator.request_rules import check_contents, check_generate
from gemgate.emulator.settings import EmulatorSettings
from gemgate.emulator.tokens import part_tokens

_DEVELOPER_MODEL = re.compile(r"^models/([^/]+)$")
_VERTEX_MODEL = re.compile(
    r"^(?:projects/[^/]+/locations/[^/]+/)?publishers/google/models/([^/]+)$"
)
# Setup fields that shape every turn's GenerateContentRequest.
_REQUEST_FIELDS = ("systemInstruction", "tools", "generationConfig", "safetySettings")
# Live-only generation options that generateContent neither needs nor knows.
_LIVE_ONLY_OPTIONS = (
    "responseModalities",
    "speechConfig",
    "enableAffectiveDialog",
    "translationConfig",
)
_PLACEHOLDER_TURN = {"role": "user", "parts": [{"text": "."}]}
_SPEECH_PEAK = 1000  # 16-bit sample amplitude above which input audio counts as speech
_DEFAULT_SILENCE_MS = 800


@dataclass(frozen=True, slots=True)
class Backend:
    """Which API a socket serves: the Developer API or Vertex AI, and its version."""

    is_vertex: bool
    version: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the server sends after one client message, and the fault asked for on that turn."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    fault: Fault = NO_FAULT


def open_session(
    setup: dict[str, Any], backend: Backend, settings: EmulatorSettings, *, fault_header: str | None
) -> LiveSession:
    """Check a camelCase `setup` as Google does and start the session it asks for."""
    model = resolve_model(setup.get("model"), backend, settings)
    template = _request_template(setup)
    # Google rejects a bad generationConfig or tool at setup, before any turn is sent.
    check_generate({**template, "contents": [_PLACEHOLDER_TURN]}, model,
                   is_vertex=backend.is_vertex, message="BidiGenerateContentSetup")  # fmt: skip
    return LiveSession(setup, model, backend, settings, fault_header=fault_header)


def resolve_model(name: Any, backend: Backend, settings: EmulatorSettings) -> ModelInfo:
    """The Live model `setup.model` names; NOT_FOUND for a model that cannot serve Live."""
    if not isinstance(name, str) or not name:
        raise invalid_argument("* BidiGenerateContentSetup.model: model is not specified")
    match = (_VERTEX_MODEL if backend.is_vertex else _DEVELOPER_MODEL).match(name)
    if match is None:
        expected = "projects/{p}/locations/{l}/publishers/google/models/{m}" if backend.is_vertex else "models/{m}"  # fmt: skip
        raise invalid_argument(f"Invalid model name '{name}': expected {expected}.")
    model = find_model(match.group(1), extra=settings.extra_models)
    if model is None or model.kind != "live":
        raise model_not_found(
            name, is_vertex=backend.is_vertex, version=backend.version, method="bidiGenerateContent"
        )
    return model


class SpeechBuffer:
    """Input audio of the user's current turn, and whether the speaker has gone quiet."""

    def __init__(self, silence_ms: int | None) -> None:
        self._silence_needed = silence_ms  # None: the client marks activity itself
        self._chunks: list[bytes] = []
        self._mime_type = "audio/pcm;rate=16000"
        self._heard_speech = False
        self._silence_ms = 0.0

    def add(self, blob: dict[str, Any]) -> bool:
        """Buffer one 16-bit PCM blob; True when automatic detection hears the end of speech."""
        data = _decoded(blob.get("data"))
        if not self._chunks:
            self._mime_type = str(blob.get("mimeType") or self._mime_type)
        self._chunks.append(data)
        samples = array("h", data[: len(data) // 2 * 2])
        if sys.byteorder == "big":
            samples.byteswap()
        if samples and max(abs(sample) for sample in samples) >= _SPEECH_PEAK:
            self._heard_speech, self._silence_ms = True, 0.0
        elif self._heard_speech:
            self._silence_ms += 1000 * len(samples) / _sample_rate(self._mime_type)
        needed = self._silence_needed
        return needed is not None and self._heard_speech and self._silence_ms >= needed

    def take(self) -> tuple[dict[str, Any], float] | None:
        """The buffered audio as an inlineData part with its length in seconds, then empty."""
        if not self._chunks:
            return None
        data = b"".join(self._chunks)
        seconds = len(data) / 2 / _sample_rate(self._mime_type)
        part = {
            "inlineData": {"mimeType": self._mime_type, "data": base64.b64encode(data).decode()}
        }
        self._chunks, self._heard_speech, self._silence_ms = [], False, 0.0
        return part, seconds


class LiveSession:
    """The state of one conversation: its history, buffered input and unanswered tool calls."""

    def __init__(self, setup: dict[str, Any], model: ModelInfo, backend: Backend,
                 settings: EmulatorSettings, *, fault_header: str | None) -> None:  # fmt: skip
        self.model = model
        self._backend = backend
        self._settings = settings
        self._fault_header = fault_header
        self._template = _request_template(setup)
        modalities = (setup.get("generationConfig") or {}).get("responseModalities") or []
        # The Live API answers in audio unless TEXT is asked for (SDK: "Defaults to AUDIO").
        self._speaks = "TEXT" not in {str(modality).upper() for modality in modalities}
        self._transcribes_input = "inputAudioTranscription" in setup
        self._transcribes_output = "outputAudioTranscription" in setup
        detection = (setup.get("realtimeInputConfig") or {}).get("automaticActivityDetection") or {}
        self._manual_activity = bool(detection.get("disabled"))
        silence = int(detection.get("silenceDurationMs") or _DEFAULT_SILENCE_MS)
        self._speech = SpeechBuffer(None if self._manual_activity else silence)
        self._contents: list[dict[str, Any]] = []
        self._pending_parts: list[dict[str, Any]] = []  # text and frames waiting for a turn
        self._pending_calls: dict[str, str] = {}  # function call id -> name
        self._turns = 0

    def handle(self, kind: str, body: dict[str, Any]) -> Outcome:
        """Take one camelCase client message (not setup) and answer it when a turn is complete."""
        if kind == "clientContent":
            return self._client_content(body)
        if kind == "realtimeInput":
            return self._realtime_input(body)
        if kind == "toolResponse":
            return self._tool_response(body)
        return Outcome()  # contextUpdate: nothing to answer

    def _client_content(self, body: dict[str, Any]) -> Outcome:
        turns = body.get("turns") or []
        if turns:
            check_contents(turns, is_vertex=self._backend.is_vertex,
                           message="BidiGenerateContentClientContent")  # fmt: skip
            self._contents.extend(turns)
        return self._respond() if body.get("turnComplete") else Outcome()

    def _realtime_input(self, body: dict[str, Any]) -> Outcome:
        ended = False
        for blob in [*(body.get("mediaChunks") or []), body.get("audio"), body.get("video")]:
            if isinstance(blob, dict) and str(blob.get("mimeType", "")).startswith("audio/"):
                ended = self._speech.add(blob) or ended
            elif isinstance(blob, dict):
                # A video frame: only the latest one is kept for the next turn.
                self._pending_parts = [p for p in self._pending_parts if "inlineData" not in p]
                self._pending_parts.append({"inlineData": blob})
        if body.get("text"):
            self._pending_parts.append({"text": body["text"]})
            ended = ended or not self._manual_activity
        if body.get("activityStart") is not None:
            self._speech.take()  # a new activity starts from silence
        if body.get("activityEnd") is not None or body.get("audioStreamEnd"):
            ended = True
        return self._finish_user_turn() if ended else Outcome()

    def _finish_user_turn(self) -> Outcome:
        audio = self._speech.take()
        parts = self._pending_parts
        messages: list[dict[str, Any]] = []
        if audio is not None:
            part, seconds = audio
            parts = [*parts, part]
            if self._transcribes_input:
                transcript = {"text": f"[{seconds:.1f} s of audio]", "finished": True}
                messages.append({"serverContent": {"inputTranscription": transcript}})
        if not parts:
            return Outcome()
        self._pending_parts = []
        self._contents.append({"role": "user", "parts": parts})
        outcome = self._respond()
        return Outcome([*messages, *outcome.messages], outcome.fault)

    def _tool_response(self, body: dict[str, Any]) -> Outcome:
        parts = []
        for response in body.get("functionResponses") or []:
            answered = {**response}
            call_name = self._pending_calls.pop(str(response.get("id", "")), None)
            if not answered.get("name") and call_name:
                answered["name"] = call_name
            parts.append({"functionResponse": answered})
        if not parts:
            return Outcome()
        self._contents.append({"role": "user", "parts": parts})
        # The model goes on only when every call it made has its result.
        return Outcome() if self._pending_calls else self._respond()

    def _respond(self) -> Outcome:
        request = {**self._template, "contents": self._contents}
        fault = find_fault(self._fault_header, request)
        if fault.status is not None:
            raise _fault_error(fault, self.model)
        config = {key: value for key, value in (self._template.get("generationConfig") or {}).items()
                  if key not in _LIVE_ONLY_OPTIONS}  # fmt: skip
        reply = compose_reply({**request, "generationConfig": config}, self.model,
                              secret=self._settings.signature_secret, fault=fault)  # fmt: skip
        self._turns += 1
        return Outcome(self._messages_for(reply), fault)

    def _messages_for(self, reply: Reply) -> list[dict[str, Any]]:
        parts = [dict(p) for p in reply.candidates[0].parts] if reply.candidates else []
        calls = self._named_calls([p["functionCall"] for p in parts if "functionCall" in p])
        spoken: list[dict[str, Any]] = []
        said = [p for p in parts if "functionCall" not in p]
        messages = self._content_messages(said, spoken)
        history = said + [{"functionCall": call} for call in calls]
        if history:
            self._contents.append({"role": "model", "parts": history})
        usage = live_usage(reply.usage, spoken, is_vertex=self._backend.is_vertex)
        if calls:
            return [*messages, {"toolCall": {"functionCalls": calls}, "usageMetadata": usage}]
        extras = reply.candidates[0].extras if reply.candidates else {}
        if "groundingMetadata" in extras:
            messages.append({"serverContent": {"groundingMetadata": extras["groundingMetadata"]}})
        messages.append({"serverContent": {"generationComplete": True}})
        messages.append({"serverContent": {"turnComplete": True}, "usageMetadata": usage})
        return messages

    def _named_calls(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Live always gives function calls an id, which the tool response must echo."""
        named = []
        for position, call in enumerate(calls):
            call_id = str(call.get("id") or _call_id(self._turns, position, str(call.get("name"))))
            self._pending_calls[call_id] = str(call.get("name", ""))
            named.append({"id": call_id, "name": call.get("name"), "args": call.get("args") or {}})
        return named

    def _content_messages(self, parts: list[dict[str, Any]],
                          spoken: list[dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
        """Model-turn messages, a few characters at a time; spoken replies become 24 kHz PCM."""
        messages: list[dict[str, Any]] = []
        step = max(1, self._settings.stream_chunk_chars)
        for part in parts:
            part.pop("thoughtSignature", None)  # Live keeps its history server-side
            text = part.get("text")
            if not isinstance(text, str) or part.get("thought"):
                messages.append({"serverContent": {"modelTurn": {"parts": [part]}}})
                continue
            for start in range(0, len(text), step):
                messages.extend(self._chunk_messages(text[start : start + step], spoken))
        return messages

    def _chunk_messages(self, text: str, spoken: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self._speaks:
            return [{"serverContent": {"modelTurn": {"parts": [{"text": text}]}}}]
        audio = {"inlineData": {"mimeType": media_outputs.LIVE_PCM_MIME,
                                "data": media_outputs.pcm_speech(text)}}  # fmt: skip
        spoken.append(audio)
        messages: list[dict[str, Any]] = [{"serverContent": {"modelTurn": {"parts": [audio]}}}]
        if self._transcribes_output:
            messages.append({"serverContent": {"outputTranscription": {"text": text}}})
        return messages


def live_usage(usage: dict[str, Any], spoken: list[dict[str, Any]], *, is_vertex: bool) -> dict[str, Any]:  # fmt: skip
    """generateContent usage as Live reports it: audio output counted, Dev says `response…`."""
    result = dict(usage)
    if spoken:
        tokens = sum(part_tokens(part)[1] for part in spoken)
        text_tokens = int(result.get("candidatesTokenCount", 0))
        result["totalTokenCount"] = int(result.get("totalTokenCount", 0)) - text_tokens + tokens
        result["candidatesTokenCount"] = tokens
        result["candidatesTokensDetails"] = [{"modality": "AUDIO", "tokenCount": tokens}]
    if not is_vertex:
        for old, new in (("candidatesTokenCount", "responseTokenCount"),
                         ("candidatesTokensDetails", "responseTokensDetails")):  # fmt: skip
            if old in result:
                result[new] = result.pop(old)
    return result


def _request_template(setup: dict[str, Any]) -> dict[str, Any]:
    return {key: setup[key] for key in _REQUEST_FIELDS if key in setup}


def _fault_error(fault: Fault, model: ModelInfo) -> GoogleApiError:
    if fault.status == 429:
        return rate_limited(fault.retry_seconds, model.id)
    return error_for_http_status(int(fault.status or 500))


def _call_id(turn: int, position: int, name: str) -> str:
    digest = hashlib.sha256(f"{turn}:{position}:{name}".encode()).digest()
    return f"function-call-{int.from_bytes(digest[:8], 'big')}"


def _sample_rate(mime_type: str) -> int:
    match = re.search(r"rate=(\d+)", mime_type)
    return int(match.group(1)) if match else 16_000


def _decoded(data: Any) -> bytes:
    """The bytes of a proto3 JSON `bytes` value, in standard or URL-safe base64."""
    text = str(data or "")
    padded = text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError) as error:
        raise invalid_argument(f"Invalid value at 'realtime_input.audio.data' (TYPE_BYTES), \"{text[:16]}\"") from error  # fmt: skip
