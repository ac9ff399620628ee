"""Every text a model reads in a request, each with its location and a setter for redaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bastion.core.types import JSON, ChatRequest, EmbeddingsRequest, Message, TextPart, ToolCall, ToolDef


@dataclass(slots=True)
class TextSlot:
    where: str  # a path such as "messages[2].tool_calls[0].arguments", never content
    text: str
    set: Callable[[str], None]
    json_string: bool = False  # the text is JSON (tool-call arguments)
    source: str = "user"  # config.policy.TextSource: the role or part of the request it is in


def _part(where: str, part: TextPart, source: str) -> TextSlot:
    def set_text(value: str) -> None:
        part.text = value

    return TextSlot(where, part.text, set_text, source=source)


def _name(where: str, msg: Message) -> TextSlot:
    def set_name(value: str) -> None:
        msg.name = value

    return TextSlot(where, msg.name or "", set_name, source=msg.role)


def _call(where: str, call: ToolCall) -> TextSlot:
    def set_args(value: str) -> None:
        call.arguments = value

    return TextSlot(where, call.arguments, set_args, json_string=True, source="assistant")


def _tool(where: str, tool: ToolDef, description: str) -> TextSlot:
    def set_description(value: str) -> None:
        tool.description = value

    return TextSlot(where, description, set_description, source="tool_definitions")


def _json_strings(where: str, node: JSON, source: str) -> Iterator[TextSlot]:
    """String values inside a JSON schema (descriptions, enums, defaults, examples)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                yield TextSlot(f"{where}.{key}", value, _setter(node, key), source=source)
            else:
                yield from _json_strings(f"{where}.{key}", value, source)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, str):
                yield TextSlot(f"{where}[{i}]", value, _setter(node, i), source=source)
            else:
                yield from _json_strings(f"{where}[{i}]", value, source)


def _setter(container: dict[str, JSON] | list[JSON], key: str | int) -> Callable[[str], None]:
    def set_value(value: str) -> None:
        container[key] = value  # type: ignore[index]

    return set_value


def _input(request: EmbeddingsRequest, i: int) -> Callable[[str], None]:
    def set_input(value: str) -> None:
        request.input[i] = value

    return set_input


def text_slots(request: ChatRequest | EmbeddingsRequest) -> list[TextSlot]:
    """All model-read text: system, every message role's text parts (tool results included) and name,
    tool-call arguments, tool definitions (description and schema strings), the
    response_format schema, and embeddings input. Image parts carry no text."""
    if isinstance(request, EmbeddingsRequest):
        return [TextSlot(f"input[{i}]", text, _input(request, i), source="embeddings_input")
                for i, text in enumerate(request.input)]
    out: list[TextSlot] = []
    for i, sp in enumerate(request.system):
        out.append(_part(f"system[{i}]", sp, "system"))
    for i, msg in enumerate(request.messages):
        if msg.name:  # the participant's name: the model reads it too
            out.append(_name(f"messages[{i}].name", msg))
        for j, part in enumerate(msg.content):
            if isinstance(part, TextPart):
                out.append(_part(f"messages[{i}].content[{j}]", part, msg.role))
        for j, call in enumerate(msg.tool_calls):
            out.append(_call(f"messages[{i}].tool_calls[{j}].arguments", call))
    for i, tool in enumerate(request.tools):
        if tool.description:
            out.append(_tool(f"tools[{i}].description", tool, tool.description))
        out.extend(_json_strings(f"tools[{i}].parameters", tool.parameters, "tool_definitions"))
    if request.response_format:
        out.extend(_json_strings("response_format", request.response_format, "response_format"))
    return out
