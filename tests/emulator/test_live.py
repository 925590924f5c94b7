"""The emulator's Live API sockets, driven over loopback by a raw websockets client and the SDK."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google import genai
from google.genai import errors, types
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError

from gemgate.emulator import EmulatorSettings, create_emulator_app
from tests.conftest import TEST_API_KEY
from tests.servers import free_port, serve

LIVE_MODEL = "gemini-live-2.5-flash-preview"
VERTEX_MODEL = f"projects/p/locations/us-central1/publishers/google/models/{LIVE_MODEL}"
TEXT_ONLY = {"responseModalities": ["TEXT"]}
WEATHER_TOOL = {
    "functionDeclarations": [{
        "name": "get_weather",
        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
    }]
}  # fmt: skip
BEARER = "ya29.live-test-token"


def developer_url(base: str, version: str = "v1beta", method: str = "BidiGenerateContent") -> str:
    host = base.replace("http://", "ws://")
    return f"{host}/ws/google.ai.generativelanguage.{version}.GenerativeService.{method}"


def vertex_url(base: str, version: str = "v1beta1") -> str:
    host = base.replace("http://", "ws://")
    return f"{host}/ws/google.cloud.aiplatform.{version}.LlmBidiService/BidiGenerateContent"


def key_header() -> dict[str, str]:
    return {"x-goog-api-key": TEST_API_KEY}


async def receive(socket: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(socket.recv(), timeout=10))
    return message


async def receive_turn(socket: ClientConnection) -> list[dict[str, Any]]:
    """Messages up to and including the turn's end (turnComplete) or a tool call."""
    messages = []
    while True:
        message = await receive(socket)
        messages.append(message)
        if "toolCall" in message or message.get("serverContent", {}).get("turnComplete"):
            return messages


async def start(socket: ClientConnection, setup: dict[str, Any]) -> None:
    await socket.send(orjson.dumps({"setup": setup}).decode())
    assert await receive(socket) == {"setupComplete": {}}


async def send(socket: ClientConnection, message: dict[str, Any]) -> None:
    await socket.send(orjson.dumps(message).decode())


async def close_of(socket: ClientConnection) -> tuple[int, str]:
    """The code and reason the server closed the socket with."""
    with pytest.raises(ConnectionClosedError) as closed:
        await receive(socket)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def model_text(messages: list[dict[str, Any]]) -> str:
    return "".join(
        part.get("text", "")
        for message in messages
        for part in message.get("serverContent", {}).get("modelTurn", {}).get("parts", [])
    )


def user_text(text: str) -> dict[str, Any]:
    return {"clientContent": {"turns": [{"role": "user", "parts": [{"text": text}]}],
                              "turnComplete": True}}  # fmt: skip


def pcm16(amplitude: int, milliseconds: int, rate: int = 16_000) -> str:
    """Base64 16-bit PCM: a square wave of ``amplitude`` (0 gives silence)."""
    count = rate * milliseconds // 1000
    samples = [amplitude if (index // 20) % 2 else -amplitude for index in range(count)]
    return base64.b64encode(struct.pack(f"<{count}h", *samples)).decode()


def audio_input(amplitude: int, milliseconds: int) -> dict[str, Any]:
    blob = {"mimeType": "audio/pcm;rate=16000", "data": pcm16(amplitude, milliseconds)}
    return {"realtimeInput": {"audio": blob}}


async def test_text_turn_streams_the_answer_then_completes_with_usage(emulator_url: str) -> None:
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await start(socket, {"model": f"models/{LIVE_MODEL}", "generationConfig": TEXT_ONLY})
        await send(socket, user_text("Hello there, how is the weather today?"))
        messages = await receive_turn(socket)
    assert model_text(messages) == "Echo: Hello there, how is the weather today?"
    assert len([m for m in messages if "modelTurn" in m.get("serverContent", {})]) > 1
    assert messages[-2] == {"serverContent": {"generationComplete": True}}
    usage = messages[-1]["usageMetadata"]
    assert usage["responseTokenCount"] > 0 and "candidatesTokenCount" not in usage
    thoughts = usage.get("thoughtsTokenCount", 0)
    assert (
        usage["totalTokenCount"]
        == usage["promptTokenCount"] + usage["responseTokenCount"] + thoughts
    )


async def test_key_in_query_string_opens_a_session(emulator_url: str) -> None:
    async with connect(f"{developer_url(emulator_url, 'v1')}?key={TEST_API_KEY}") as socket:
        await start(socket, {"model": f"models/{LIVE_MODEL}", "generationConfig": TEXT_ONLY})
        await send(socket, user_text("ping"))
        assert model_text(await receive_turn(socket)) == "Echo: ping"


async def test_snake_case_messages_in_binary_frames_are_understood(emulator_url: str) -> None:
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        setup = {
            "model": f"models/{LIVE_MODEL}",
            "generation_config": {"response_modalities": ["TEXT"]},
        }
        await socket.send(orjson.dumps({"setup": setup}))
        assert await receive(socket) == {"setupComplete": {}}
        content = {"turns": [{"role": "user", "parts": [{"text": "snake"}]}], "turn_complete": True}
        await socket.send(orjson.dumps({"client_content": content}))
        assert model_text(await receive_turn(socket)) == "Echo: snake"


async def test_later_turns_see_the_whole_conversation(emulator_url: str) -> None:
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await start(socket, {"model": f"models/{LIVE_MODEL}", "generationConfig": TEXT_ONLY})
        await send(socket, user_text("first"))
        first = (await receive_turn(socket))[-1]["usageMetadata"]["promptTokenCount"]
        await send(socket, user_text("second"))
        second = (await receive_turn(socket))[-1]["usageMetadata"]["promptTokenCount"]
    assert second > first


async def test_tool_call_waits_for_the_tool_response_then_answers(emulator_url: str) -> None:
    setup = {
        "model": f"models/{LIVE_MODEL}",
        "generationConfig": TEXT_ONLY,
        "tools": [WEATHER_TOOL],
    }
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await start(socket, setup)
        await send(socket, user_text("What is the weather in Paris?"))
        (call_message,) = await receive_turn(socket)
        (call,) = call_message["toolCall"]["functionCalls"]
        assert call["name"] == "get_weather" and call["args"] == {"city": "Paris"} and call["id"]
        response = {"id": call["id"], "name": call["name"], "response": {"celsius": 21}}
        await send(socket, {"toolResponse": {"functionResponses": [response]}})
        answer = model_text(await receive_turn(socket))
    assert answer == 'Function results: get_weather returned {"celsius":21}'


async def test_audio_is_the_default_reply_with_24khz_pcm_and_its_transcript(
    emulator_url: str,
) -> None:
    setup = {"model": f"models/{LIVE_MODEL}", "outputAudioTranscription": {}}
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await start(socket, setup)
        await send(socket, user_text("Say something"))
        messages = await receive_turn(socket)
    contents = [m["serverContent"] for m in messages]
    audio = [p["inlineData"] for c in contents for p in c.get("modelTurn", {}).get("parts", [])]
    assert audio and all(blob["mimeType"] == "audio/pcm;rate=24000" for blob in audio)
    assert all(len(base64.b64decode(blob["data"])) % 2 == 0 for blob in audio)
    transcript = "".join(
        c["outputTranscription"]["text"] for c in contents if "outputTranscription" in c
    )
    assert transcript == "Echo: Say something"
    assert model_text(messages) == ""
    details = messages[-1]["usageMetadata"]["responseTokensDetails"]
    assert details == [
        {"modality": "AUDIO", "tokenCount": messages[-1]["usageMetadata"]["responseTokenCount"]}
    ]


async def test_realtime_text_gets_an_answer(emulator_url: str) -> None:
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await start(socket, {"model": f"models/{LIVE_MODEL}", "generationConfig": TEXT_ONLY})
        await send(socket, {"realtimeInput": {"text": "typed while talking"}})
        assert model_text(await receive_turn(socket)) == "Echo: typed while talking"


async def test_audio_stream_end_answers_the_buffered_audio(emulator_url: str) -> None:
    setup = {"model": f"models/{LIVE_MODEL}", "generationConfig": TEXT_ONLY,
             "inputAudioTranscription": {}}  # fmt: skip
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await start(socket, setup)
        await send(socket, audio_input(4000, 500))
        await send(socket, audio_input(4000, 500))
        await send(socket, {"realtimeInput": {"audioStreamEnd": True}})
        messages = await receive_turn(socket)
    assert messages[0] == {"serverContent": {"inputTranscription": {"text": "[1.0 s of audio]", "finished": True}}}  # fmt: skip
    assert model_text(messages) == "Received 1 media part(s): audio/pcm;rate=16000."
    assert {"modality": "AUDIO", "tokenCount": 32} in messages[-1]["usageMetadata"][
        "promptTokensDetails"
    ]


async def test_silence_after_speech_ends_the_turn(emulator_url: str) -> None:
    detection = {"automaticActivityDetection": {"silenceDurationMs": 300}}
    setup = {"model": f"models/{LIVE_MODEL}", "generationConfig": TEXT_ONLY,
             "realtimeInputConfig": detection}  # fmt: skip
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await start(socket, setup)
        await send(socket, audio_input(0, 400))  # silence before speech ends nothing
        await send(socket, audio_input(5000, 300))
        await send(socket, audio_input(0, 400))
        assert model_text(await receive_turn(socket)).startswith("Received 1 media part(s)")


async def test_manual_activity_is_answered_at_activity_end(emulator_url: str) -> None:
    detection = {"automaticActivityDetection": {"disabled": True}}
    setup = {"model": f"models/{LIVE_MODEL}", "generationConfig": TEXT_ONLY,
             "realtimeInputConfig": detection}  # fmt: skip
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await start(socket, setup)
        await send(socket, {"realtimeInput": {"activityStart": {}}})
        await send(socket, {"realtimeInput": {"text": "held until the end"}})
        await send(socket, audio_input(0, 2000))  # long silence: no automatic turn end
        await send(socket, {"realtimeInput": {"activityEnd": {}}})
        messages = await receive_turn(socket)
    assert model_text(messages) == "Echo: held until the end"


async def test_vertex_socket_takes_a_bearer_token_and_reports_candidates_tokens(
    emulator_app: Starlette, emulator_url: str
) -> None:
    emulator_app.state.emulator.access_tokens[BEARER] = time.time() + 3600
    headers = {"Authorization": f"Bearer {BEARER}"}
    async with connect(vertex_url(emulator_url), additional_headers=headers) as socket:
        await start(socket, {"model": VERTEX_MODEL, "generationConfig": TEXT_ONLY})
        await send(socket, user_text("from vertex"))
        messages = await receive_turn(socket)
    assert model_text(messages) == "Echo: from vertex"
    usage = messages[-1]["usageMetadata"]
    assert usage["candidatesTokenCount"] > 0 and "responseTokenCount" not in usage


async def test_vertex_socket_rejects_an_unknown_bearer_token(emulator_url: str) -> None:
    headers = {"Authorization": "Bearer ya29.never-issued"}
    async with connect(vertex_url(emulator_url, "v1"), additional_headers=headers) as socket:
        await send(socket, {"setup": {"model": VERTEX_MODEL}})
        code, reason = await close_of(socket)
    assert code == 1008 and reason.startswith("Request had invalid authentication credentials.")


async def test_vertex_socket_wants_a_publisher_model_path(
    emulator_app: Starlette, emulator_url: str
) -> None:
    emulator_app.state.emulator.access_tokens[BEARER] = time.time() + 3600
    headers = {"Authorization": f"Bearer {BEARER}"}
    async with connect(vertex_url(emulator_url), additional_headers=headers) as socket:
        await send(socket, {"setup": {"model": f"models/{LIVE_MODEL}"}})
        code, reason = await close_of(socket)
    assert code == 1007 and reason.startswith(f"Invalid model name 'models/{LIVE_MODEL}'")


async def test_wrong_api_key_closes_with_google_reason(emulator_url: str) -> None:
    headers = {"x-goog-api-key": "not-a-key"}
    async with connect(developer_url(emulator_url), additional_headers=headers) as socket:
        await send(socket, {"setup": {"model": f"models/{LIVE_MODEL}"}})
        assert await close_of(socket) == (1007, "API key not valid. Please pass a valid API key.")


async def test_missing_api_key_closes_with_policy_violation(emulator_url: str) -> None:
    async with connect(developer_url(emulator_url)) as socket:
        await send(socket, {"setup": {"model": f"models/{LIVE_MODEL}"}})
        code, reason = await close_of(socket)
    assert code == 1008 and reason.startswith("Method doesn't allow unregistered callers")


async def test_message_before_setup_closes_the_socket(emulator_url: str) -> None:
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await send(socket, user_text("too early"))
        assert await close_of(socket) == (1007, "Request contains an invalid argument.")


async def test_second_setup_closes_the_socket(emulator_url: str) -> None:
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await start(socket, {"model": f"models/{LIVE_MODEL}"})
        await send(socket, {"setup": {"model": f"models/{LIVE_MODEL}"}})
        assert await close_of(socket) == (1007, "Request contains an invalid argument.")


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"setup": {"model": f"models/{LIVE_MODEL}", "voice": "Kore"}},
         "Invalid JSON payload received. Unknown name \"voice\" at 'setup': Cannot find field."),
        ({"setup": {"model": f"models/{LIVE_MODEL}"}, "clientContent": {}},
         "Invalid JSON payload received. Oneof field 'message_type' is already set. Cannot set 'client_content'"),
        ({"setup": {"model": f"models/{LIVE_MODEL}", "generationConfig": {"temperature": 5}}},
         "Unable to submit request because it has a temperature value of 5 but the supported range is from 0 (inclusive) to 2.0000001 (exclusive)."),
        ({}, "Request contains an invalid argument."),
    ],
)  # fmt: skip
async def test_invalid_setup_closes_with_invalid_payload(
    emulator_url: str, message: dict[str, Any], reason: str
) -> None:
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await send(socket, message)
        code, received = await close_of(socket)
    assert code == 1007 and received == reason.encode()[:123].decode()


async def test_unknown_field_after_setup_closes_with_invalid_payload(emulator_url: str) -> None:
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await start(socket, {"model": f"models/{LIVE_MODEL}"})
        await send(socket, {"realtimeInput": {"speech": "hello"}})
        code, reason = await close_of(socket)
    assert code == 1007
    assert reason == "Invalid JSON payload received. Unknown name \"speech\" at 'realtime_input': Cannot find field."  # fmt: skip


async def test_lenient_schema_lets_unknown_setup_fields_through() -> None:
    app = create_emulator_app(EmulatorSettings(strict_schema=False))
    with serve(app) as url:
        async with connect(developer_url(url), additional_headers=key_header()) as socket:
            await start(socket, {"model": f"models/{LIVE_MODEL}", "generationConfig": TEXT_ONLY,
                                 "futureOption": {"enabled": True}})  # fmt: skip
            await send(socket, {"unknownMessage": {}})
            assert await close_of(socket) == (1007, "Request contains an invalid argument.")


async def test_invalid_json_closes_with_invalid_payload(emulator_url: str) -> None:
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await socket.send("{not json")
        code, reason = await close_of(socket)
    assert code == 1007 and reason.startswith("Invalid JSON payload received. Unexpected token.")


@pytest.mark.parametrize("model", ["models/gemini-9-unknown", "models/gemini-2.5-flash"])
async def test_model_that_cannot_serve_live_closes_with_not_found(
    emulator_url: str, model: str
) -> None:
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await send(socket, {"setup": {"model": model}})
        code, reason = await close_of(socket)
    expected = f"{model} is not found for API version v1beta, or is not supported for bidiGenerateContent. Call ListModels"  # fmt: skip
    assert code == 1008 and reason.startswith(expected)
    assert len(reason.encode()) <= 123


@pytest.mark.parametrize(("directive", "reason"), [
    ("status=503", "The model is overloaded. Please try again later."),
    ("status=429, retry=7", "You exceeded your current quota, please check your plan and billing details. Please retry in 7s."),
])  # fmt: skip
async def test_fault_directive_closes_with_internal_error(
    emulator_url: str, directive: str, reason: str
) -> None:
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await start(socket, {"model": f"models/{LIVE_MODEL}", "generationConfig": TEXT_ONLY})
        await send(socket, user_text(f"Hi [[emulator: {directive}]]"))
        assert await close_of(socket) == (1011, reason)


async def test_break_after_fault_cuts_the_turn_short(emulator_url: str) -> None:
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await start(socket, {"model": f"models/{LIVE_MODEL}", "generationConfig": TEXT_ONLY})
        await send(socket, user_text("A long enough prompt to stream [[emulator: break-after=1]]"))
        first = await receive(socket)
        assert "modelTurn" in first["serverContent"]
        assert await close_of(socket) == (1011, "Internal error encountered.")


async def test_constrained_method_takes_an_ephemeral_token(emulator_url: str) -> None:
    url = developer_url(emulator_url, "v1alpha", "BidiGenerateContentConstrained")
    async with connect(f"{url}?access_token={TEST_API_KEY}") as socket:
        await start(socket, {"model": f"models/{LIVE_MODEL}", "generationConfig": TEXT_ONLY})
        await send(socket, user_text("ephemeral"))
        assert model_text(await receive_turn(socket)) == "Echo: ephemeral"


async def test_client_messages_are_in_the_request_log(
    emulator_url: str, http: httpx.Client
) -> None:
    async with connect(developer_url(emulator_url), additional_headers=key_header()) as socket:
        await start(socket, {"model": f"models/{LIVE_MODEL}", "generationConfig": TEXT_ONLY})
        await send(socket, user_text("logged"))
        await receive_turn(socket)
    entries = [
        e for e in http.get("/emulator/requests").json()["requests"] if e["method"] == "WEBSOCKET"
    ]
    assert [next(iter(e["body"])) for e in entries] == ["setup", "clientContent"]


# The official SDK forces wss://, so it meets the emulator over TLS with a throwaway certificate.


@pytest.fixture
def tls_emulator(tmp_path: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    certificate, key = _self_signed(tmp_path)
    app = create_emulator_app(EmulatorSettings(api_keys=frozenset({TEST_API_KEY})))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            ws="websockets-sansio", ssl_certfile=certificate, ssl_keyfile=key)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "TLS emulator did not start"
        time.sleep(0.01)
    try:
        yield f"https://127.0.0.1:{port}", ssl.create_default_context(cafile=certificate)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _self_signed(folder: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    certificate_path, key_path = folder / "emulator.pem", folder / "emulator.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return str(certificate_path), str(key_path)


def _sdk_client(base_url: str, context: ssl.SSLContext) -> genai.Client:
    options = types.HttpOptions(base_url=base_url, async_client_args={"ssl": context})
    return genai.Client(api_key=TEST_API_KEY, http_options=options)


async def test_sdk_holds_a_text_session_with_a_tool_call(
    tls_emulator: tuple[str, ssl.SSLContext],
) -> None:
    base_url, context = tls_emulator
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.TEXT], system_instruction="Be brief.",
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(
            name="get_weather", parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}})])],
    )  # fmt: skip
    async with _sdk_client(base_url, context).aio.live.connect(
        model=LIVE_MODEL, config=config
    ) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Hello")])
        )
        replies = [message async for message in session.receive()]
        assert "".join(m.text or "" for m in replies) == "Echo: Hello"
        assert (
            replies[-1].usage_metadata is not None
            and replies[-1].usage_metadata.response_token_count
        )
        await session.send_realtime_input(text="What is the weather in Rome?")
        call = None
        async for message in session.receive():  # a tool call leaves the turn open
            call = message.tool_call
            break
        assert call is not None and call.function_calls
        (function_call,) = call.function_calls
        assert function_call.args == {"city": "Rome"}
        await session.send_tool_response(function_responses=[types.FunctionResponse(
            id=function_call.id, name=function_call.name, response={"celsius": 25})])  # fmt: skip
        answer = "".join([m.text or "" async for m in session.receive()])
    assert answer == 'Function results: get_weather returned {"celsius":25}'


async def test_sdk_receives_spoken_audio(
    tls_emulator: tuple[str, ssl.SSLContext],
) -> None:
    base_url, context = tls_emulator
    config = types.LiveConnectConfig(output_audio_transcription=types.AudioTranscriptionConfig())
    async with _sdk_client(base_url, context).aio.live.connect(
        model=LIVE_MODEL, config=config
    ) as session:
        await session.send_realtime_input(text="Speak")
        replies = [message async for message in session.receive()]
    audio = b"".join(m.data or b"" for m in replies)
    transcript = "".join(
        m.server_content.output_transcription.text or ""
        for m in replies
        if m.server_content and m.server_content.output_transcription
    )
    assert len(audio) >= 2 * 24_000 // 5 and transcript == "Echo: Speak"


async def test_sdk_raises_google_close_reason_for_a_non_live_model(
    tls_emulator: tuple[str, ssl.SSLContext],
) -> None:
    base_url, context = tls_emulator
    with pytest.raises(errors.APIError) as raised:
        async with _sdk_client(base_url, context).aio.live.connect(model="gemini-2.5-flash"):
            pass
    assert raised.value.code == 1008
    assert "models/gemini-2.5-flash is not found for API version v1" in str(raised.value)


async def test_sdk_on_vertex_reads_candidates_tokens_as_response_tokens(
    tls_emulator: tuple[str, ssl.SSLContext],
) -> None:
    base_url, context = tls_emulator
    # Vertex with a custom base URL and no project: the SDK dials that URL as it is.
    options = types.HttpOptions(
        base_url=f"{base_url.replace('https://', 'wss://')}/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent",
        headers={"x-goog-api-key": TEST_API_KEY}, async_client_args={"ssl": context},
    )  # fmt: skip
    client = genai.Client(vertexai=True, http_options=options)
    config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])
    async with client.aio.live.connect(model=VERTEX_MODEL, config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Hi")])
        )
        replies = [message async for message in session.receive()]
    assert "".join(m.text or "" for m in replies) == "Echo: Hi"
    usage = replies[-1].usage_metadata
    assert usage is not None and usage.response_token_count == 2
