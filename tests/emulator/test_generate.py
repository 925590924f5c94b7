"""The emulator's model routes, driven by the official google-genai SDK and by curl-shaped HTTP."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest
from google import genai
from google.genai import errors, types

from tests.conftest import TEST_API_KEY

FLASH = "gemini-2.5-flash"
GEMINI_3 = "gemini-3-flash-preview"
WEATHER_TOOL = {
    "functionDeclarations": [
        {
            "name": "get_current_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "OBJECT",
                "properties": {
                    "location": {"type": "STRING"},
                    "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
        }
    ]
}


@pytest.fixture
def client(emulator_url: str) -> genai.Client:
    return genai.Client(api_key=TEST_API_KEY, http_options={"base_url": emulator_url})


def _post(http: httpx.Client, model: str, method: str, body: Any, **kwargs: Any) -> httpx.Response:
    headers = {"x-goog-api-key": TEST_API_KEY, **kwargs.pop("headers", {})}
    return http.post(f"/v1beta/models/{model}:{method}", json=body, headers=headers, **kwargs)


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def test_sdk_generate_content_echoes_the_prompt(client: genai.Client) -> None:
    response = client.models.generate_content(model=FLASH, contents="Hello there")
    assert response.text == "Echo: Hello there"
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None and usage.prompt_token_count == 3
    assert usage.total_token_count == (
        usage.prompt_token_count
        + (usage.candidates_token_count or 0)
        + (usage.thoughts_token_count or 0)
    )


def test_sdk_stream_yields_pieces_that_join_to_the_answer(client: genai.Client) -> None:
    prompt = "Tell me a story about a lighthouse keeper and the sea"
    chunks = list(client.models.generate_content_stream(model=FLASH, contents=prompt))
    assert len(chunks) > 1
    assert "".join(chunk.text or "" for chunk in chunks) == f"Echo: {prompt}"
    finishes = [c.candidates[0].finish_reason for c in chunks if c.candidates]
    assert finishes[-1] == types.FinishReason.STOP and all(f is None for f in finishes[:-1])
    counts = [c.usage_metadata.candidates_token_count or 0 for c in chunks if c.usage_metadata]
    assert counts == sorted(counts)  # cumulative, never summed


def test_sse_frames_are_crlf_data_lines_without_done(http: httpx.Client) -> None:
    response = http.post(
        f"/v1beta/models/{FLASH}:streamGenerateContent?alt=sse",
        json={"contents": [_user("stream this text please, in a few chunks")]},
        headers={"x-goog-api-key": TEST_API_KEY},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = response.content.split(b"\r\n\r\n")
    assert events[-1] == b"" and len(events) > 2
    assert all(event.startswith(b"data: {") for event in events[:-1])
    assert b"[DONE]" not in response.content


def test_stream_without_alt_is_one_json_array(http: httpx.Client) -> None:
    response = _post(
        http,
        FLASH,
        "streamGenerateContent",
        {"contents": [_user("array please, long enough to split")]},
    )
    elements = orjson.loads(response.content)
    assert isinstance(elements, list) and len(elements) > 1
    assert elements[-1]["candidates"][0]["finishReason"] == "STOP"


def test_count_tokens_accepts_both_body_forms(http: httpx.Client, client: genai.Client) -> None:
    plain = _post(http, FLASH, "countTokens", {"contents": [_user("count these words")]}).json()
    wrapped = _post(
        http,
        FLASH,
        "countTokens",
        {
            "generateContentRequest": {
                "model": f"models/{FLASH}",
                "contents": [_user("count these words")],
            }
        },
    ).json()
    assert plain["totalTokens"] == wrapped["totalTokens"] == 5
    assert client.models.count_tokens(model=FLASH, contents="count these words").total_tokens == 5


def test_sdk_embed_content_is_deterministic_and_sized(client: genai.Client) -> None:
    first = client.models.embed_content(
        model="gemini-embedding-001", contents=["a", "b"], config={"output_dimensionality": 8}
    )
    again = client.models.embed_content(
        model="gemini-embedding-001", contents=["a"], config={"output_dimensionality": 8}
    )
    assert first.embeddings is not None and again.embeddings is not None
    assert [len(e.values or []) for e in first.embeddings] == [8, 8]
    assert first.embeddings[0].values == again.embeddings[0].values
    assert first.embeddings[0].values != first.embeddings[1].values


def test_models_list_and_get(client: genai.Client) -> None:
    names = [model.name for model in client.models.list()]
    assert f"models/{FLASH}" in names
    assert client.models.get(model=FLASH).input_token_limit == 1_048_576


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"contents": [_user("hi")], "bogus": 1}, 'Unknown name "bogus"'),
        (
            {"contents": [{"parts": [{"text": 5}]}]},
            "Invalid value at 'contents[0].parts[0].text' (TYPE_STRING), 5",
        ),
        ({}, "contents is not specified"),
        (
            {"contents": [_user("hi")], "generationConfig": {"temperature": "hot"}},
            "generation_config.temperature",
        ),
        (
            {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
            "Please use a valid role: user, model.",
        ),
    ],
)
def test_bad_bodies_get_google_invalid_argument(
    http: httpx.Client, body: dict[str, Any], message: str
) -> None:
    response = _post(http, FLASH, "generateContent", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["code"] == 400
    assert message in error["message"]


def test_sdk_raises_client_error_for_unknown_field(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(
            model=FLASH, contents="hi", config={"http_options": {"extra_body": {"bogus": 1}}}
        )
    assert caught.value.code == 400


@pytest.mark.parametrize(
    ("headers", "status", "google_status"),
    [({}, 403, "PERMISSION_DENIED"), ({"x-goog-api-key": "wrong"}, 400, "INVALID_ARGUMENT")],
)
def test_missing_or_wrong_key_gets_googles_error(
    http: httpx.Client, headers: dict[str, str], status: int, google_status: str
) -> None:
    response = http.post(
        f"/v1beta/models/{FLASH}:generateContent", json={"contents": [_user("x")]}, headers=headers
    )
    assert response.status_code == status
    assert response.json()["error"]["status"] == google_status


def test_key_in_query_string_is_accepted(http: httpx.Client) -> None:
    response = http.post(
        f"/v1/models/{FLASH}:generateContent?key={TEST_API_KEY}", json={"contents": [_user("q")]}
    )
    assert response.status_code == 200


def test_unknown_model_is_not_found(http: httpx.Client) -> None:
    response = _post(http, "no-such-model", "generateContent", {"contents": [_user("x")]})
    assert response.status_code == 404
    assert "models/no-such-model is not found" in response.json()["error"]["message"]


def test_function_call_when_prompt_asks_for_a_declared_tool(http: httpx.Client) -> None:
    body = {
        "contents": [_user("What's the weather like in Boston today?")],
        "tools": [WEATHER_TOOL],
    }
    parts = _post(http, FLASH, "generateContent", body).json()["candidates"][0]["content"]["parts"]
    assert parts == [
        {
            "functionCall": {
                "name": "get_current_weather",
                "args": {"location": "Boston", "unit": "celsius"},
            }
        }
    ]


def test_tool_choice_none_answers_in_text(http: httpx.Client) -> None:
    body = {
        "contents": [_user("weather in Paris?")],
        "tools": [WEATHER_TOOL],
        "toolConfig": {"functionCallingConfig": {"mode": "NONE"}},
    }
    parts = _post(http, FLASH, "generateContent", body).json()["candidates"][0]["content"]["parts"]
    assert "text" in parts[0]


def _gemini3_call(http: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    body = {"contents": [_user("weather in Rome?")], "tools": [WEATHER_TOOL]}
    reply = _post(http, GEMINI_3, "generateContent", body).json()
    return body, reply["candidates"][0]["content"]


def test_gemini_3_calls_carry_id_and_signature(http: httpx.Client) -> None:
    _, content = _gemini3_call(http)
    part = content["parts"][0]
    assert part["functionCall"]["id"] and part["thoughtSignature"]


def test_gemini_3_replay_without_signature_is_rejected(http: httpx.Client) -> None:
    body, content = _gemini3_call(http)
    call = content["parts"][0]["functionCall"]
    result = {
        "role": "user",
        "parts": [
            {"functionResponse": {"id": call["id"], "name": call["name"], "response": {"temp": 21}}}
        ],
    }
    good = {**body, "contents": [*body["contents"], content, result]}
    reply = _post(http, GEMINI_3, "generateContent", good)
    assert reply.status_code == 200
    assert (
        "get_current_weather returned"
        in reply.json()["candidates"][0]["content"]["parts"][0]["text"]
    )
    stripped = {"role": "model", "parts": [{"functionCall": call}]}
    bad = {**body, "contents": [*body["contents"], stripped, result]}
    rejected = _post(http, GEMINI_3, "generateContent", bad)
    assert rejected.status_code == 400
    assert "missing a thought_signature" in rejected.json()["error"]["message"]
    forged = {
        "role": "model",
        "parts": [{"functionCall": call, "thoughtSignature": base64.b64encode(b"forged").decode()}],
    }
    assert (
        _post(
            http,
            GEMINI_3,
            "generateContent",
            {**body, "contents": [*body["contents"], forged, result]},
        ).status_code
        == 400
    )


def test_response_json_schema_gets_valid_json(client: genai.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 18}},
        "required": ["name", "age"],
    }
    response = client.models.generate_content(
        model=FLASH,
        contents="a person",
        config={"response_mime_type": "application/json", "response_json_schema": schema},
    )
    assert orjson.loads(response.text or "") == {"name": "name", "age": 18}


def test_thinking_reports_thought_parts_and_tokens(client: genai.Client) -> None:
    response = client.models.generate_content(
        model=FLASH,
        contents="think about it",
        config={"thinking_config": {"include_thoughts": True, "thinking_budget": 1024}},
    )
    assert response.candidates and response.candidates[0].content
    parts = response.candidates[0].content.parts or []
    assert parts[0].thought is True
    assert response.usage_metadata and response.usage_metadata.thoughts_token_count


def test_thinking_budget_zero_turns_thinking_off(client: genai.Client) -> None:
    response = client.models.generate_content(
        model=FLASH, contents="quick", config={"thinking_config": {"thinking_budget": 0}}
    )
    assert response.usage_metadata and not response.usage_metadata.thoughts_token_count


def test_candidate_count_gives_several_candidates(client: genai.Client) -> None:
    response = client.models.generate_content(
        model=FLASH, contents="hi", config={"candidate_count": 3}
    )
    assert [c.index for c in response.candidates or []] == [0, 1, 2]


def test_stop_sequences_cut_the_answer(client: genai.Client) -> None:
    response = client.models.generate_content(
        model=FLASH, contents="one two three", config={"stop_sequences": ["three"]}
    )
    assert response.text == "Echo: one two "


def test_max_output_tokens_truncates_with_max_tokens(http: httpx.Client) -> None:
    body = {
        "contents": [_user("a fairly long prompt that will not fit")],
        "generationConfig": {"maxOutputTokens": 2, "thinkingConfig": {"thinkingBudget": 0}},
    }
    candidate = _post(http, FLASH, "generateContent", body).json()["candidates"][0]
    assert candidate["finishReason"] == "MAX_TOKENS"
    assert len(candidate["content"]["parts"][0]["text"]) == 8


def test_tts_model_returns_pcm_audio(client: genai.Client) -> None:
    response = client.models.generate_content(
        model="gemini-2.5-flash-preview-tts",
        contents="Say hello",
        config={
            "response_modalities": ["AUDIO"],
            "speech_config": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}},
        },
    )
    assert response.candidates and response.candidates[0].content
    blob = (response.candidates[0].content.parts or [])[-1].inline_data
    assert blob is not None and blob.mime_type == "audio/L16;codec=pcm;rate=24000"
    assert blob.data and len(blob.data) % 2 == 0


def test_image_model_returns_png(http: httpx.Client) -> None:
    body = {
        "contents": [_user("a cat")],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]},
    }
    parts = _post(http, "gemini-3.1-flash-image-preview", "generateContent", body).json()[
        "candidates"
    ][0]["content"]["parts"]
    image = base64.b64decode(parts[-1]["inlineData"]["data"])
    assert image.startswith(b"\x89PNG")


def test_search_tool_adds_grounding_metadata(http: httpx.Client) -> None:
    body = {"contents": [_user("news today")], "tools": [{"googleSearch": {}}]}
    response = _post(http, FLASH, "generateContent", body).json()
    assert response["candidates"][0]["groundingMetadata"]["webSearchQueries"] == ["news today"]
    assert response["usageMetadata"]["toolUsePromptTokenCount"] > 0


def test_snake_case_body_is_accepted(http: httpx.Client) -> None:
    body = {
        "contents": [_user("snake")],
        "generation_config": {"max_output_tokens": 100, "thinking_config": {"thinking_budget": 0}},
    }
    assert _post(http, FLASH, "generateContent", body).status_code == 200


def test_vertex_route_requires_a_bearer_token(http: httpx.Client) -> None:
    path = f"/v1/projects/p/locations/us-central1/publishers/google/models/{FLASH}:generateContent"
    response = http.post(path, json={"contents": [_user("x")]})
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_uploaded_file_can_be_used_in_a_prompt(client: genai.Client, tmp_path: Any) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("some notes")
    uploaded = client.files.upload(file=path)
    assert uploaded.uri and uploaded.mime_type
    part = types.Part.from_uri(file_uri=uploaded.uri, mime_type=uploaded.mime_type)
    response = client.models.generate_content(model=FLASH, contents=[part, "summarise"])
    assert response.text == "Echo: summarise"


def test_unknown_file_uri_is_refused_like_google(http: httpx.Client) -> None:
    part = {
        "fileData": {
            "mimeType": "text/plain",
            "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/nope",
        }
    }
    response = _post(
        http, FLASH, "generateContent", {"contents": [{"role": "user", "parts": [part]}]}
    )
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"
