"""Every SDK code example of the seed documents, run as written against the emulator on the
Gemini Developer API and Vertex AI; the only argument added is `api_base`.

Credentials come from the environment, as in the seeds: GEMINI_API_KEY for `gemini/`,
GOOGLE_APPLICATION_CREDENTIALS (a service-account key file) for `vertex_ai/`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.genai.types import ContentDict, PartDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import gemgate
from gemgate.client_pool import DEFAULT_POOL
from gemgate.emulator import EmulatorSettings, create_emulator_app
from gemgate.emulator.media_outputs import png_image
from gemgate.emulator.service_accounts import new_service_account
from tests.conftest import TEST_API_KEY
from tests.servers import free_port, serve

PNG = base64.b64decode(png_image("landmark"))
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(range(64))
COOKIES = [{"role": "user", "content": "List 5 popular cookie recipes."}]
RECIPES_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"recipe_name": {"type": "string"}},
        "required": ["recipe_name"],
    },
}
SAFETY_SETTINGS = [
    {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
    {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"},
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "threshold": "BLOCK_NONE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_NONE"},
]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "The city and state, e.g. San Francisco, CA",
                },
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
AGREEMENT = "Here is the full text of a complex legal agreement" * 400


@dataclass(frozen=True)
class Backend:
    """Where the examples run: the model prefix, the emulator, and what it received."""

    prefix: str
    api_base: str

    def model(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def requests(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = httpx.get(f"{self.api_base}/emulator/requests").json()["requests"]  # fmt: skip
        return answer

    def sent(self) -> list[dict[str, Any]]:
        """The bodies of the model calls (generateContent, embedContent, …) in order."""
        return [entry["body"] for entry in self.requests() if "/models/" in entry["path"]]


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[str, dict[str, str]]]:
    """One emulator for both backends: it takes the test key and trusts a minted account."""
    port = free_port()
    key_file, account = new_service_account(
        client_email="seeds@emulator-project.iam.gserviceaccount.com",
        token_uri=f"http://127.0.0.1:{port}/token", project_id="emulator-project",
    )  # fmt: skip
    settings = EmulatorSettings(api_keys=frozenset({TEST_API_KEY}), service_accounts=(account,), min_cache_tokens=16)  # fmt: skip
    with serve(create_emulator_app(settings), port=port) as url:
        yield url, key_file


@pytest.fixture(params=["gemini", "vertex_ai"])
def backend(request: pytest.FixtureRequest, emulator: tuple[str, dict[str, str]], tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Backend:  # fmt: skip
    url, key_file = emulator
    httpx.delete(f"{url}/emulator/requests").raise_for_status()
    if request.param == "gemini":
        monkeypatch.setenv("GEMINI_API_KEY", TEST_API_KEY)
    else:
        path = tmp_path / "service-account.json"
        path.write_text(json.dumps(key_file))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return Backend(request.param, url)


async def _files(request: Request) -> Response:
    name = request.path_params["name"]
    body, media_type = {"landmark3.jpg": (PNG, "image/png"), "contract.pdf": (PDF, "application/pdf")}[name]  # fmt: skip
    return Response(body, media_type=media_type)


@pytest.fixture(scope="module")
def storage() -> Iterator[str]:
    """A stand-in for storage.googleapis.com: the seeds' image and PDF by https URL."""
    with serve(Starlette(routes=[Route("/github-repo/{name}", _files)])) as url:
        yield url


@pytest.fixture(autouse=True)
async def _close_loop_client() -> AsyncIterator[None]:
    yield
    await DEFAULT_POOL.aclose_running_loop()


def test_sample_usage(backend: Backend) -> None:
    response = gemgate.completion(
        model=backend.model("gemini-pro"),
        messages=[{"role": "user", "content": "write code for saying hi from LiteLLM"}],
        api_base=backend.api_base,
    )
    assert response.choices[0].message.content == "Echo: write code for saying hi from LiteLLM"


def test_reasoning_effort_low_thinks_with_a_1024_token_budget(backend: Backend) -> None:
    resp = gemgate.completion(
        model=backend.model("gemini-2.5-flash-preview-04-17"),
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        reasoning_effort="low",
        api_base=backend.api_base,
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content == "Echo: What is the capital of France?"
    assert choice.message.reasoning_content and choice.message.tool_calls is None
    assert resp.usage.prompt_tokens_details.cached_tokens == 0
    assert resp.usage.completion_tokens_details.reasoning_tokens > 0
    [body] = backend.sent()
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}  # fmt: skip


def test_thinking_param_sets_the_budget(backend: Backend) -> None:
    response = gemgate.completion(
        model=backend.model("gemini-2.5-flash-preview-04-17"),
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
        api_base=backend.api_base,
    )
    assert response.choices[0].message.reasoning_content
    assert backend.sent()[0]["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 1024


@pytest.mark.parametrize(
    ("model", "messages", "voice", "extra"),
    [
        (
            "gemini-2.5-flash-preview-tts",
            [{"role": "user", "content": "Say hello in a friendly voice"}],
            "Kore",
            {},
        ),
        (
            "gemini-2.5-pro-preview-tts",
            [
                {"role": "system", "content": "You are a helpful assistant that speaks clearly."},
                {"role": "user", "content": "Explain quantum computing in simple terms"},
            ],
            "Charon",
            {"temperature": 0.7, "max_tokens": 150},
        ),
    ],
    ids=["quick-start", "advanced"],
)
def test_tts_answers_with_pcm16_audio(backend: Backend, model: str, messages: list[dict[str, Any]],
                                      voice: str, extra: dict[str, Any]) -> None:  # fmt: skip
    response = gemgate.completion(
        model=backend.model(model),
        messages=messages,
        modalities=["audio"],
        audio={"voice": voice, "format": "pcm16"},
        api_base=backend.api_base,
        **extra,
    )
    pcm = base64.b64decode(response.choices[0].message.audio.data)
    assert len(pcm) > 0 and len(pcm) % 2 == 0  # 16-bit samples
    config = backend.sent()[0]["generationConfig"]
    assert config["responseModalities"] == ["AUDIO"]
    assert config["speechConfig"] == {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}}
    if extra:
        assert config["temperature"] == 0.7 and config["maxOutputTokens"] == 150


def test_response_schema(backend: Backend) -> None:
    completion = gemgate.completion(
        model=backend.model("gemini-1.5-pro"),
        messages=COOKIES,
        response_format={"type": "json_object", "response_schema": RECIPES_SCHEMA},
        api_base=backend.api_base,
    )
    recipes = json.loads(completion.choices[0].message.content)
    assert recipes and all(set(recipe) == {"recipe_name"} for recipe in recipes)
    assert backend.sent()[0]["generationConfig"]["responseMimeType"] == "application/json"


def test_enforce_validation_accepts_an_answer_that_matches(backend: Backend) -> None:
    try:
        completion = gemgate.completion(
            model=backend.model("gemini-1.5-pro"),
            messages=COOKIES,
            response_format={
                "type": "json_object",
                "response_schema": RECIPES_SCHEMA,
                "enforce_validation": True,
            },
            api_base=backend.api_base,
        )
    except gemgate.JSONSchemaValidationError as e:
        pytest.fail(f"Raw Response: {e.raw_response}")
    assert isinstance(json.loads(completion.choices[0].message.content), list)


def test_enforce_validation_raises_with_the_raw_response(backend: Backend) -> None:
    schema = {"type": "object", "properties": {"count": {"type": "integer", "multipleOf": 7}}, "required": ["count"]}  # fmt: skip
    with pytest.raises(gemgate.JSONSchemaValidationError) as caught:
        gemgate.completion(
            model=backend.model("gemini-1.5-pro"),
            messages=COOKIES,
            response_format={
                "type": "json_object",
                "response_schema": schema,
                "enforce_validation": True,
            },
            api_base=backend.api_base,
        )
    assert json.loads(caught.value.raw_response) == {"count": 1}


def test_generation_config_params_pass_straight_through(backend: Backend) -> None:
    # The seed then parses the answer as JSON, which only a JSON response_format would give.
    gemgate.completion(model=backend.model("gemini-1.5-pro"), messages=COOKIES, topK=1, api_base=backend.api_base)  # fmt: skip
    assert backend.sent()[0]["generationConfig"] == {"topK": 1}


def test_safety_settings(backend: Backend) -> None:
    response = gemgate.completion(
        model=backend.model("gemini-pro"),
        messages=[{"role": "user", "content": "write code for saying hi from LiteLLM"}],
        safety_settings=SAFETY_SETTINGS,
        api_base=backend.api_base,
    )
    assert response.choices[0].finish_reason == "stop"
    assert backend.sent()[0]["safetySettings"] == SAFETY_SETTINGS


def test_tool_calling(backend: Backend) -> None:
    messages = [{"role": "user", "content": "What's the weather like in Boston today?"}]
    response = gemgate.completion(
        model=backend.model("gemini-1.5-flash"),
        messages=messages,
        tools=[WEATHER_TOOL],
        api_base=backend.api_base,
    )
    assert isinstance(response.choices[0].message.tool_calls[0].function.name, str)
    assert isinstance(response.choices[0].message.tool_calls[0].function.arguments, str)
    assert json.loads(response.choices[0].message.tool_calls[0].function.arguments)["location"] == "Boston"  # fmt: skip


@pytest.mark.parametrize(
    ("tool", "content", "facts"),
    [
        ({"googleSearch": {}}, "What is the weather in San Francisco?", "grounding_metadata"),
        (
            {"urlContext": {}},
            "Summarize this document: https://ai.google.dev/gemini-api/docs/models",
            "url_context_metadata",
        ),
        ({"codeExecution": {}}, "What is the weather in San Francisco?", None),
    ],
    ids=["google-search", "url-context", "code-execution"],
)
def test_gemini_tools_are_sent_as_given(backend: Backend, tool: dict[str, Any], content: str, facts: str | None) -> None:  # fmt: skip
    response = gemgate.completion(
        model=backend.model("gemini-2.0-flash"),
        messages=[{"role": "user", "content": content}],
        tools=[tool],
        api_base=backend.api_base,
    )
    assert response.choices[0].message.content == f"Echo: {content}"
    assert backend.sent()[0]["tools"] == [tool]
    if facts is not None:
        assert response.choices[0].message.provider_specific_fields[facts]


def test_url_context_metadata_is_on_the_message_not_in_model_extra(backend: Backend) -> None:
    response = gemgate.completion(
        model=backend.model("gemini-2.0-flash"),
        messages=[
            {
                "role": "user",
                "content": "Summarize this document: https://ai.google.dev/gemini-api/docs/models",
            }
        ],
        tools=[{"urlContext": {}}],
        api_base=backend.api_base,
    )
    url_context_metadata = response.choices[0].message.provider_specific_fields["url_context_metadata"]  # fmt: skip
    urlMetadata = url_context_metadata["urlMetadata"][0]
    assert urlMetadata["retrievedUrl"] and urlMetadata["urlRetrievalStatus"]
    # The seed reads response.model_extra['vertex_ai_url_context_metadata'], another gateway's
    # pydantic extra field; gemgate's objects are dicts and have no model_extra.
    with pytest.raises(TypeError, match="not subscriptable"):
        response.model_extra["vertex_ai_url_context_metadata"]


def test_json_mode(backend: Backend) -> None:
    completion = gemgate.completion(
        model=backend.model("gemini-1.5-pro"),
        messages=COOKIES,
        response_format={"type": "json_object"},
        api_base=backend.api_base,
    )
    assert isinstance(json.loads(completion.choices[0].message.content), dict)


def test_vision_with_an_image_url(backend: Backend, storage: str) -> None:
    prompt = "Describe the image in a few sentences."
    image_url = f"{storage}/github-repo/landmark3.jpg"
    messages = [{"role": "user", "content": [{"type": "text", "text": prompt}, {"type": "image_url", "image_url": {"url": image_url}}]}]  # fmt: skip
    response = gemgate.completion(model=backend.model("gemini-pro-vision"), messages=messages, api_base=backend.api_base)  # fmt: skip
    content = response.get("choices", [{}])[0].get("message", {}).get("content")
    assert content == f"Echo: {prompt}"
    [image] = [part for part in backend.sent()[0]["contents"][0]["parts"] if "inlineData" in part]
    assert image["inlineData"] == {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}


async def test_vision_with_a_base64_image(backend: Backend) -> None:
    data_url = f"data:image/png;base64,{base64.b64encode(PNG).decode()}"
    messages = [{"role": "user", "content": [{"type": "text", "text": "What colour is it?"}, {"type": "image_url", "image_url": {"url": data_url}}]}]  # fmt: skip
    response = await gemgate.acompletion(model=backend.model("gemini-2.0-flash"), messages=messages, api_base=backend.api_base)  # fmt: skip
    assert response.choices[0].message.content == "Echo: What colour is it?"
    assert backend.sent()[0]["contents"][0]["parts"][1]["inlineData"]["mimeType"] == "image/png"


def test_an_image_in_local_storage_must_be_sent_as_base64(backend: Backend) -> None:
    # gemgate reads no local files: a path is refused before any call, with the forms it takes.
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "./localimage.jpeg"}}]}]  # fmt: skip
    with pytest.raises(gemgate.BadRequestError, match="is not a gs://, https:// or Gemini Files API"):  # fmt: skip
        gemgate.completion(model=backend.model("gemini-pro-vision"), messages=messages, api_base=backend.api_base)  # fmt: skip
    assert backend.sent() == []


@pytest.mark.parametrize(
    ("file", "part"),
    [
        (
            {"file_data": f"data:audio/mp3;base64,{base64.b64encode(MP3).decode()}"},
            {"inlineData": {"mimeType": "audio/mp3", "data": base64.b64encode(MP3).decode()}},
        ),
        (
            {"file_id": "{storage}/github-repo/contract.pdf", "format": "application/pdf"},
            {"inlineData": {"mimeType": "application/pdf", "data": base64.b64encode(PDF).decode()}},
        ),
        (
            {
                "file_id": "gs://cloud-samples-data/generative-ai/pdf/contract.pdf",
                "format": "application/pdf",
            },
            {
                "fileData": {
                    "mimeType": "application/pdf",
                    "fileUri": "gs://cloud-samples-data/generative-ai/pdf/contract.pdf",
                }
            },
        ),
    ],
    ids=["inline-audio", "https-file", "gs-file"],
)
def test_files(backend: Backend, storage: str, file: dict[str, str], part: dict[str, Any]) -> None:
    file = {key: value.format(storage=storage) for key, value in file.items()}
    response = gemgate.completion(
        model=backend.model("gemini-1.5-flash"),
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Please summarize the file."},
                    {"type": "file", "file": file},
                ],
            }
        ],
        api_base=backend.api_base,
    )
    assert response.choices[0].message.content == "Echo: Please summarize the file."
    assert backend.sent()[0]["contents"][0]["parts"][1] == part


@pytest.mark.parametrize(
    "name",
    [
        "gemini-pro",
        "gemini-1.5-pro-latest",
        "gemini-2.0-flash",
        "gemini-2.0-flash-exp",
        "gemini-2.0-flash-lite-preview-02-05",
    ],
)
def test_chat_models(backend: Backend, name: str) -> None:
    response = gemgate.completion(model=backend.model(name), messages=[{"role": "user", "content": "Hi"}], api_base=backend.api_base)  # fmt: skip
    assert response.model == name and response.choices[0].message.content == "Echo: Hi"


def test_context_caching_creates_the_cache_once_and_reads_it_twice(backend: Backend) -> None:
    usages = []
    for _ in range(2):
        resp = gemgate.completion(
            model=backend.model("gemini-1.5-pro"),
            messages=[
                # System Message
                {
                    "role": "system",
                    "content": [
                        {
                            "type": "text",
                            "text": AGREEMENT,
                            "cache_control": {"type": "ephemeral"},
                        }
                    ],
                },
                # marked for caching with the cache_control parameter, so that this checkpoint can read from the previous cache.
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "text",
                            "text": "What are the key terms and conditions in this agreement?",
                            "cache_control": {"type": "ephemeral"},
                        }
                    ],
                },
            ],
            api_base=backend.api_base,
        )
        usages.append(resp.usage)
    # Google reads an explicit cache on every call that names it, the first one included.
    assert [usage.prompt_tokens_details.cached_tokens > 1000 for usage in usages] == [True, True]
    creations = [entry for entry in backend.requests() if entry["path"].endswith("/cachedContents")]  # fmt: skip
    assert len(creations) == 1
    first, second = backend.sent()
    assert first["cachedContent"] == second["cachedContent"] and "systemInstruction" not in first
    assert first["contents"] == [{"role": "user", "parts": [{"text": "What are the key terms and conditions in this agreement?"}]}]  # fmt: skip


async def test_context_caching_of_a_system_prompt_with_a_plain_question(backend: Backend) -> None:
    messages: list[dict[str, Any]] = [
        {
            "role": "system",
            "content": [
                {
                    "type": "text",
                    "text": AGREEMENT + " (async)",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        },
        {"role": "user", "content": "what are the key terms and conditions in this agreement?"},
    ]
    response = await gemgate.acompletion(model=backend.model("gemini-1.5-pro"), messages=messages, api_base=backend.api_base)  # fmt: skip
    assert response.usage.prompt_tokens_details.cached_tokens > 1000
    assert "cachedContent" in backend.sent()[0]


def test_image_generation(backend: Backend) -> None:
    response = gemgate.completion(
        model=backend.model("gemini-2.0-flash-exp-image-generation"),
        messages=[{"role": "user", "content": "Generate an image of a cat"}],
        modalities=["image", "text"],
        api_base=backend.api_base,
    )
    assert response.choices[0].message.content is not None
    # Images come back beside the text, as data URLs (the seed's comment shows one in content).
    [image] = response.choices[0].message.images
    assert image["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert backend.sent()[0]["generationConfig"]["responseModalities"] == ["IMAGE", "TEXT"]


def test_streaming(backend: Backend) -> None:
    messages = [{"role": "user", "content": "write code for saying hi from LiteLLM"}]
    stream = gemgate.completion(model=backend.model("gemini-2.0-flash"), messages=messages, stream=True,
                                stream_options={"include_usage": True}, api_base=backend.api_base)  # fmt: skip
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "Echo: write code for saying hi from LiteLLM"
    assert chunks[-1].usage.total_tokens > 0


@pytest.mark.parametrize("model", ["gemini-embedding-001", "text-embedding-004"])
def test_embeddings_with_dimensions(backend: Backend, model: str) -> None:
    response = gemgate.embedding(model=backend.model(model), input=["good morning from litellm", "bonjour"], dimensions=256, api_base=backend.api_base)  # fmt: skip
    assert [len(item.embedding) for item in response.data] == [256, 256]
    assert response.usage.prompt_tokens > 0


def test_text_completion(backend: Backend) -> None:
    response = gemgate.text_completion(model=backend.model("gemini-2.0-flash"), prompt="Say this is a test", max_tokens=20, api_base=backend.api_base)  # fmt: skip
    assert response.object == "text_completion"
    assert response.choices[0].text == "Echo: Say this is a test"
    assert backend.sent()[0]["generationConfig"]["maxOutputTokens"] == 20


async def test_native_agenerate_content(backend: Backend) -> None:
    contents = ContentDict(
        parts=[
            PartDict(text="Hello, can you tell me a short joke?"),
        ],
        role="user",
    )
    response = await gemgate.google_genai.agenerate_content(
        contents=contents,
        model=backend.model("gemini-2.0-flash"),
        max_tokens=100,
        api_base=backend.api_base,
    )
    assert response.text == "Echo: Hello, can you tell me a short joke?"
    assert backend.sent()[0]["generationConfig"] == {"maxOutputTokens": 100}


async def test_native_agenerate_content_stream(backend: Backend) -> None:
    contents = ContentDict(
        parts=[
            PartDict(text="Write a long story about space exploration"),
        ],
        role="user",
    )
    response = await gemgate.google_genai.agenerate_content_stream(
        contents=contents,
        model=backend.model("gemini-2.0-flash"),
        max_tokens=500,
        api_base=backend.api_base,
    )
    texts = [chunk.text or "" async for chunk in response]
    assert len(texts) > 1 and "".join(texts) == "Echo: Write a long story about space exploration"


def test_native_generate_content_sync(backend: Backend) -> None:
    contents = ContentDict(parts=[PartDict(text="Hello, can you tell me a short joke?")], role="user")  # fmt: skip
    response = gemgate.google_genai.generate_content(contents=contents, model=backend.model("gemini-2.0-flash"), max_tokens=100, api_base=backend.api_base)  # fmt: skip
    assert response.text == "Echo: Hello, can you tell me a short joke?"
    stream = gemgate.google_genai.generate_content_stream(contents=contents, model=backend.model("gemini-2.0-flash"), max_tokens=100, api_base=backend.api_base)  # fmt: skip
    assert "".join(chunk.text or "" for chunk in stream) == response.text
