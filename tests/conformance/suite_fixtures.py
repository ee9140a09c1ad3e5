"""The conformance suite's own fixtures, registered on the example connector for the suite alone.

The official MCP conformance suite (npm `@modelcontextprotocol/conformance`) calls tools,
resources and prompts by fixed names (`test_image_content`, `test://static-text`,
`test_simple_prompt`, ...), each described in the suite's bundle ("Implement tool
`test_tool_with_logging` with no arguments ..."). A real connector does not ship them, so
they live here, beside the test, and `fixture_server.py` serves the example connector with
them added. They use only what every connector uses: `connector.tool` with a safety class,
`connector.resource`, `connector.prompt`, `connector.completion` and `connector.subscriptions`;
log records of the connector's own logger (forwarded by the base's client_log); progress
through `patchbay.Progress` in a worker thread; elicitation and sampling through the SDK's
resolver form (`Annotated[..., Resolve(fn)]`), the form that works in both protocol eras.
So a scenario that fails here points at the base, not at a hand-written protocol path.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import struct
import time
import wave
import zlib
from typing import Annotated, Any, Literal

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve, Sample, UserMessage
from pydantic import BaseModel, Field

from patchbay import Progress, Runtime, ToolError
from patchbay.example.server import connector

__all__ = ["connector"]

# A child of the connector's own logger (`patchbay.example`): the base forwards its records.
logger = logging.getLogger("patchbay.example.conformance")

PAUSE = 0.05  # the suite's fixtures wait ~50 ms between notifications


# Content the suite asks for --------------------------------------------------------------


def png_pixel() -> bytes:
    """A valid 1x1 red PNG, built from its chunks."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, then one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def wav_silence() -> bytes:
    """A valid WAV file: 10 ms of 8 kHz mono silence."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(b"\x80" * 80)
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _image() -> types.ImageContent:
    return types.ImageContent(type="image", data=_b64(png_pixel()), mime_type="image/png")


def _text(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


def _embedded(uri: str, mime_type: str, text: str) -> types.EmbeddedResource:
    resource = types.TextResourceContents(uri=uri, mime_type=mime_type, text=text)
    return types.EmbeddedResource(type="resource", resource=resource)


def _result(*content: types.ContentBlock) -> types.CallToolResult:
    return types.CallToolResult(content=list(content))


# Tools: content ----------------------------------------------------------------------------


@connector.tool("read")
async def test_simple_text() -> types.CallToolResult:
    """Return one text block (conformance fixture)."""
    return _result(_text("This is a simple text response for testing."))


@connector.tool("read")
async def test_image_content() -> types.CallToolResult:
    """Return a 1x1 PNG as image content (conformance fixture)."""
    return _result(_image())


@connector.tool("read")
async def test_audio_content() -> types.CallToolResult:
    """Return a short WAV as audio content (conformance fixture)."""
    return _result(types.AudioContent(type="audio", data=_b64(wav_silence()), mime_type="audio/wav"))


@connector.tool("read")
async def test_embedded_resource() -> types.CallToolResult:
    """Return an embedded text resource (conformance fixture)."""
    return _result(_embedded("test://embedded-resource", "text/plain", "This is an embedded resource content."))


@connector.tool("read")
async def test_multiple_content_types() -> types.CallToolResult:
    """Return text, an image and an embedded JSON resource (conformance fixture)."""
    data = json.dumps({"test": "data", "value": 123})
    return _result(
        _text("Multiple content types test:"),
        _image(),
        _embedded("test://mixed-content-resource", "application/json", data),
    )


@connector.tool("read")
async def test_error_handling() -> types.CallToolResult:
    """Always fail with a tool error (conformance fixture)."""
    raise ToolError("This tool intentionally returns an error for testing")


# Tools: notifications ----------------------------------------------------------------------


@connector.tool("read")
async def test_tool_with_logging() -> types.CallToolResult:
    """Log three info records, ~50 ms apart, through the connector's logger (conformance fixture)."""
    logger.info("Tool execution started")
    await anyio.sleep(PAUSE)
    logger.info("Tool processing data")
    await anyio.sleep(PAUSE)
    logger.info("Tool execution completed")
    return _result(_text("Tool with logging executed: 3 log records."))


@connector.tool("read")
def test_tool_with_progress(ctx: Context) -> types.CallToolResult:
    """Report three steps of progress, ~50 ms apart, from a worker thread (conformance fixture)."""
    progress = Progress(ctx, "of 3 steps", every=1)
    for _ in range(3):
        time.sleep(PAUSE)  # a plain `def` tool runs in a worker thread: blocking is fine here
        progress.advance()
    return _result(_text(f"Tool with progress executed: {progress.count} steps."))


# Tools: requests to the client -------------------------------------------------------------


class UserInfo(BaseModel):
    """What `test_elicitation` asks for."""

    username: str = Field(description="User's response")
    email: str = Field(description="User's email address")


async def ask_user(message: str) -> Elicit[UserInfo]:
    """The question `test_elicitation` puts to the user: the tool's own `message`."""
    return Elicit(message, UserInfo)


def _answer(outcome: ElicitationResult[Any]) -> str:
    content = outcome.data.model_dump(mode="json") if outcome.action == "accept" else None
    return f"action={outcome.action}, content={json.dumps(content)}"


@connector.tool("read")
async def test_elicitation(
    message: str, answer: Annotated[ElicitationResult[UserInfo], Resolve(ask_user)]
) -> types.CallToolResult:
    """Ask the user for a username and an email, and report the answer (conformance fixture)."""
    return _result(_text(f"User response: {_answer(answer)}"))


class Defaults(BaseModel):
    """SEP-1034: a default for every primitive type."""

    name: str = "John Doe"
    age: int = 30
    score: float = 95.5
    status: Literal["active", "inactive", "pending"] = "active"
    verified: bool = True


async def ask_with_defaults() -> Elicit[Defaults]:
    """The question of `test_elicitation_sep1034_defaults`."""
    return Elicit("Please review your profile (defaults are filled in).", Defaults)


@connector.tool("read")
async def test_elicitation_sep1034_defaults(
    answer: Annotated[ElicitationResult[Defaults], Resolve(ask_with_defaults)],
) -> types.CallToolResult:
    """Ask with a default for every primitive type, and report the answer (conformance fixture)."""
    return _result(_text(f"Elicitation completed: {_answer(answer)}"))


def _one_of(options: dict[str, str]) -> Any:
    """A schema edit: a single-select Literal offered as `oneOf` `{const, title}` options."""

    def edit(schema: dict[str, Any]) -> None:
        del schema["enum"]
        schema["oneOf"] = [{"const": value, "title": title} for value, title in options.items()]

    return edit


def _any_of_items(options: dict[str, str]) -> Any:
    """A schema edit: a multi-select list of Literals offered as `items.anyOf` `{const, title}` options."""

    def edit(schema: dict[str, Any]) -> None:
        schema["items"] = {"anyOf": [{"const": value, "title": title} for value, title in options.items()]}

    return edit


def _enum_names(names: list[str]) -> Any:
    """A schema edit: the legacy `enumNames` display names of a Literal."""

    def edit(schema: dict[str, Any]) -> None:
        schema["enumNames"] = names

    return edit


class EnumForms(BaseModel):
    """SEP-1330: the five forms of an enum in an elicitation schema."""

    untitledSingle: Literal["option1", "option2", "option3"]  # camelCase: the suite's field names
    titledSingle: Literal["value1", "value2", "value3"] = Field(
        json_schema_extra=_one_of({"value1": "First Option", "value2": "Second Option", "value3": "Third"})
    )
    legacyEnum: Literal["opt1", "opt2", "opt3"] = Field(
        json_schema_extra=_enum_names(["Option One", "Option Two", "Option Three"])
    )
    untitledMulti: list[Literal["option1", "option2", "option3"]]
    titledMulti: list[Literal["value1", "value2", "value3"]] = Field(
        json_schema_extra=_any_of_items({"value1": "First Choice", "value2": "Second Choice", "value3": "Third"})
    )


async def ask_enums() -> Elicit[EnumForms]:
    """The question of `test_elicitation_sep1330_enums`."""
    return Elicit("Please pick your options.", EnumForms)


@connector.tool("read")
async def test_elicitation_sep1330_enums(
    answer: Annotated[ElicitationResult[EnumForms], Resolve(ask_enums)],
) -> types.CallToolResult:
    """Ask with the five enum forms, and report the answer (conformance fixture)."""
    return _result(_text(f"Elicitation completed: {_answer(answer)}"))


async def sample(prompt: str) -> Sample:
    """The sampling request of `test_sampling`: the tool's own `prompt`, at most 100 tokens."""
    message = types.SamplingMessage(role="user", content=_text(prompt))
    return Sample([message], max_tokens=100)


@connector.tool("read")
async def test_sampling(
    prompt: str, reply: Annotated[types.CreateMessageResult, Resolve(sample)]
) -> types.CallToolResult:
    """Ask the client's model to answer a prompt, and return its answer (conformance fixture)."""
    content = reply.content
    text = content.text if isinstance(content, types.TextContent) else json.dumps(reply.model_dump(mode="json"))
    return _result(_text(f"LLM response: {text}"))


# Resources ---------------------------------------------------------------------------------


@connector.resource("test://static-text", name="static-text", mime_type="text/plain", description="A fixed text.")
async def static_text() -> str:
    return "This is the content of the static text resource."


@connector.resource(
    "test://static-binary", name="static-binary", mime_type="image/png", description="A 1x1 PNG, as bytes."
)
async def static_binary() -> bytes:
    return png_pixel()


@connector.resource(
    "test://template/{id}/data", name="template-data", mime_type="application/json", description="Data for one id."
)
async def template_data(id: str) -> str:  # the template's variable
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@connector.resource(
    "test://watched-resource", name="watched-resource", mime_type="text/plain", description="A resource to watch."
)
async def watched_resource() -> str:
    return "This resource can be subscribed to."


# The example connector watches note:// resources; the fixtures add their own test:// ones.
_example_watch = connector.hooks.on_subscribe
_example_unwatch = connector.hooks.on_unsubscribe


async def _watch(runtime: Runtime[Any, Any], uri: str, request: ServerRequestContext[Any, Any]) -> None:
    if not uri.startswith("test://") and _example_watch is not None:
        await _example_watch(runtime, uri, request)


async def _unwatch(runtime: Runtime[Any, Any], uri: str, request: ServerRequestContext[Any, Any]) -> None:
    if not uri.startswith("test://") and _example_unwatch is not None:
        await _example_unwatch(runtime, uri, request)


connector.subscriptions(_watch, _unwatch)


# Prompts and completion --------------------------------------------------------------------


@connector.prompt()
def test_simple_prompt() -> str:
    """A prompt without arguments (conformance fixture)."""
    return "This is a simple prompt for testing."


@connector.prompt()
def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
    """A prompt with two arguments (conformance fixture)."""
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@connector.prompt()
def test_prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:  # the suite's name
    """A prompt that embeds the resource it is given (conformance fixture)."""
    return [
        UserMessage(_embedded(resourceUri, "text/plain", "Embedded resource content for testing.")),
        UserMessage("Please process the embedded resource above."),
    ]


@connector.prompt()
def test_prompt_with_image() -> list[UserMessage]:
    """A prompt with an image (conformance fixture)."""
    return [UserMessage(_image()), UserMessage("Please analyze the image above.")]


@connector.completion("test_prompt_with_arguments", "arg1")
async def complete_arg1(value: str, _: dict[str, str]) -> list[str]:
    return [word for word in ("paris", "park", "party", "testing", "tests") if word.startswith(value)]
