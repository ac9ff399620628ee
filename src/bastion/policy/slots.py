"""Every text of a request that reaches the provider, with its location and a setter for redaction."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bastion.core.errors import InvalidRequest
from bastion.core.types import JSON, ChatRequest, EmbeddingsRequest, ImagePart, Message, TextPart

# JSON Schema keywords, shown as they are in a location; any other key (a property name, a
# metadata key) is client text and is shown by its position
_SCHEMA_WORDS = frozenset({
    "type", "properties", "items", "description", "title", "enum", "const", "default", "examples", "required",
    "additionalProperties", "anyOf", "oneOf", "allOf", "not", "$defs", "definitions", "$ref", "format", "pattern",
    "name", "schema", "strict", "json_schema", "minimum", "maximum", "minItems", "maxItems", "minLength",
    "maxLength", "prefixItems", "patternProperties", "propertyNames", "if", "then", "else", "$schema", "$id",
    "$comment",
})

# scheme://[userinfo@]host[:port]: the host of a URL the provider fetches
_URL_HOST = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#]*)")

REQUEST_FIELDS = "request_fields"
"""The source of texts that reach the provider but are not conversation text (`user`, `metadata`,
`stop`, tool-call ids, image URLs, `prompt_cache_key`, `safety_identifier`, `inference_geo`): read by
every rule that is not limited to some `roles`."""

# free strings a decoder keeps in ChatRequest.extra that reach the provider (OpenAI's cache key and
# end-user id, which an Anthropic upstream receives as metadata.user_id; Anthropic's region)
_EXTRA_STRINGS = ("prompt_cache_key", "safety_identifier", "inference_geo")


@dataclass(slots=True)
class TextSlot:
    where: str  # a path such as "messages[2].tool_calls[0].arguments", never content
    text: str
    set: Callable[[str], None]
    json_string: bool = False  # the text is JSON (tool-call arguments)
    source: str = "user"  # config.policy.TextSource: the role or part of the request it is in
    keep: tuple[int, int] | None = None  # a span redaction leaves as it is (an image URL's host)


_new = object.__new__
# The location of message i's text part j, by (i, j): formatting it costs ~2,000 instructions (two int formats), a
# look-up ~300; every request has a few such parts, at the same few places
_CONTENT_WHERE: dict[tuple[int, int], str] = {}
_WHERE_MAX = 4096


class _PartSlot(TextSlot):
    """The slot of a text part: its setter a method on the part it holds, not a closure made per slot (~1,250
    instructions less a text part, counted by valgrind: no function object and cell built for a setter that
    is called only when a redaction applies). `set` is read as on any slot (a bound method)."""

    __slots__ = ("_part",)
    _part: TextPart

    def set(self, value: str) -> None:
        self._part.text = value


def _part(where: str, part: TextPart, source: str) -> TextSlot:
    # TextSlot(where, part.text, <its setter>, False, source) without the class call: ~750 instructions less (counted
    # by valgrind; the dataclass's generated __init__ with its defaults) for a slot per text part of every request
    slot = _new(_PartSlot)
    slot.where = where
    slot.text = part.text
    slot._part = part
    slot.json_string = False
    slot.source = source
    slot.keep = None
    return slot


def _name(where: str, msg: Message) -> TextSlot:
    def set_name(value: str) -> None:
        msg.name = value

    return TextSlot(where, msg.name or "", set_name, source=msg.role)


def _attr(where: str, obj: object, attr: str, source: str, json_string: bool = False) -> TextSlot:
    """The string attribute `attr` of a canonical object (a tool's name, a call's id, ...)."""

    def set_attr(value: str) -> None:
        setattr(obj, attr, value)

    return TextSlot(where, getattr(obj, attr), set_attr, json_string=json_string, source=source)


def _json_strings(where: str, node: JSON, source: str) -> Iterator[TextSlot]:
    """String values and object keys inside JSON (a schema's property names, descriptions, enums,
    defaults, examples: the model reads them all). An object's keys are one text, a line each (one
    scan per object, not per property name); its slot comes after the slots inside its values, so
    that redactions apply inside the values before the keys are renamed."""
    if isinstance(node, dict):
        for n, (key, value) in enumerate(list(node.items())):
            path = f"{where}.{key}" if key in _SCHEMA_WORDS else f"{where}.<key {n}>"  # never client text
            if isinstance(value, str):
                yield TextSlot(path, value, _setter(node, key), source=source)
            else:
                yield from _json_strings(path, value, source)
        keys = [k for k in node if k not in _SCHEMA_WORDS]  # a keyword ("type") holds nothing to find
        if keys and not any("\n" in k for k in keys):
            yield TextSlot(f"{where}.<keys>", "\n".join(keys), _renamer(node, keys), source=source)
        else:
            for key in keys:
                yield TextSlot(f"{where}.<keys>", key, _renamer(node, [key]), source=source)
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


def _renamer(node: dict[str, JSON], keys: list[str]) -> Callable[[str], None]:
    """Renames `keys` to the lines of the redacted text (a placeholder holds no line break, so a
    redaction inside one key keeps the count; one across keys cannot be applied: refused)."""

    def rename(value: str) -> None:
        names = value.split("\n") if len(keys) > 1 else [value]
        if len(names) != len(keys):
            raise InvalidRequest("A redaction spans several property names of one object and cannot be applied.")
        renamed = dict(zip(keys, names, strict=True))
        items = list(node.items())
        node.clear()
        node.update((renamed.get(k, k), v) for k, v in items)

    return rename


def _list_item(items: list[str], i: int) -> Callable[[str], None]:
    def set_item(value: str) -> None:
        items[i] = value

    return set_item


def _input(request: EmbeddingsRequest, i: int) -> Callable[[str], None]:
    def set_input(value: str) -> None:
        request.input[i] = value

    return set_input


def text_slots(request: ChatRequest | EmbeddingsRequest) -> list[TextSlot]:
    """All model-read text: system, every message role's text parts (tool results included) and name,
    tool-call arguments, tool definitions (description and schema strings), the
    response_format schema, and embeddings input; besides, what else reaches the provider as text:
    tool and tool-call names and ids, image URLs and media types, `stop`, `user`, `metadata`,
    `prompt_cache_key`, `safety_identifier` and `inference_geo` (image data is checked by the ingress
    decoders; an Anthropic output_config.format schema is the response_format)."""
    out: list[TextSlot]
    if isinstance(request, EmbeddingsRequest):
        out = [TextSlot(f"input[{i}]", text, _input(request, i), source="embeddings_input")
               for i, text in enumerate(request.input)]
        if request.user:
            out.append(_attr("user", request, "user", REQUEST_FIELDS))
        return out
    out = []
    # each loop below behind a test of its list: an enumerate over an empty list costs ~400 instructions, and most
    # requests have no system list (OpenAI), tool calls, tools or stop sequences
    if request.system:
        for i, sp in enumerate(request.system):
            out.append(_part(f"system[{i}]", sp, "system"))
    for i, msg in enumerate(request.messages):
        if msg.name:  # the participant's name: the model reads it too
            out.append(_name(f"messages[{i}].name", msg))
        if msg.tool_call_id:
            out.append(_attr(f"messages[{i}].tool_call_id", msg, "tool_call_id", REQUEST_FIELDS))
        for j, part in enumerate(msg.content):
            if isinstance(part, TextPart):
                where = _CONTENT_WHERE.get((i, j))
                if where is None:
                    where = f"messages[{i}].content[{j}]"
                    if len(_CONTENT_WHERE) < _WHERE_MAX:
                        _CONTENT_WHERE[i, j] = where
                out.append(_part(where, part, msg.role))
            elif isinstance(part, ImagePart):
                # the URL reaches the provider (which fetches it); the data is checked by the decoders
                if part.url:
                    # the provider fetches it from its host: a placeholder there makes it no URL at all
                    url = _attr(f"messages[{i}].content[{j}].url", part, "url", REQUEST_FIELDS)
                    host = _URL_HOST.match(part.url)
                    url.keep = host.span(1) if host else None
                    out.append(url)
                if part.media_type:
                    out.append(_attr(f"messages[{i}].content[{j}].media_type", part, "media_type",
                                     REQUEST_FIELDS))
        if not msg.tool_calls:
            continue
        for j, call in enumerate(msg.tool_calls):
            where = f"messages[{i}].tool_calls[{j}]"
            out.append(_attr(f"{where}.id", call, "id", REQUEST_FIELDS))
            out.append(_attr(f"{where}.name", call, "name", "assistant"))
            out.append(_attr(f"{where}.arguments", call, "arguments", "assistant", json_string=True))
    if request.tools:
        for i, tool in enumerate(request.tools):
            out.append(_attr(f"tools[{i}].name", tool, "name", "tool_definitions"))
            if tool.description:
                out.append(_attr(f"tools[{i}].description", tool, "description", "tool_definitions"))
            out.extend(_json_strings(f"tools[{i}].parameters", tool.parameters, "tool_definitions"))
    if request.tool_choice is not None and request.tool_choice.name:
        out.append(_attr("tool_choice.name", request.tool_choice, "name", "tool_definitions"))
    if request.response_format:
        out.extend(_json_strings("response_format", request.response_format, "response_format"))
    # not conversation text, but it reaches the provider: the end user's id, metadata, stop sequences
    if request.stop:
        for i in range(len(request.stop)):
            out.append(TextSlot(f"stop[{i}]", request.stop[i], _list_item(request.stop, i), source=REQUEST_FIELDS))
    if request.user:
        out.append(_attr("user", request, "user", REQUEST_FIELDS))
    extra = request.extra
    if not extra:  # the usual request: none of the look-ups below would find anything
        return out
    metadata = extra.get("metadata")
    if isinstance(metadata, dict):
        out.extend(_json_strings("metadata", metadata, REQUEST_FIELDS))
    for key in _EXTRA_STRINGS:
        value = extra.get(key)
        if isinstance(value, str) and value:
            out.append(TextSlot(key, value, _setter(extra, key), source=REQUEST_FIELDS))
    return out
