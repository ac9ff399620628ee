"""OpenAI `tools`, `tool_choice` and `parallel_tool_calls` ⇄ canonical ToolDef / ToolChoice."""

from __future__ import annotations

import re
from typing import Literal, cast

from bastion.core.types import JSON, JSONObject, ToolChoice, ToolDef
from bastion.providers.openai.fields import (
    as_bool,
    as_list,
    as_object,
    as_str,
    invalid,
    join,
    reject_unknown,
    shown,
    wrong_type,
)

_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_TOOL_KEYS = frozenset({"type", "function"})
_FUNCTION_KEYS = frozenset({"name", "description", "parameters", "strict"})
_CHOICE_KEYS = frozenset({"type", "function"})
_MODES = ("auto", "none", "required")


def decode_tools(value: JSON) -> list[ToolDef]:
    items = as_list(value, "tools")
    tools = [_tool(item, f"tools[{i}]") for i, item in enumerate(items)]
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if tool.name in seen:
            raise invalid(f"tools[{i}].function.name", "duplicate tool name")
        seen.add(tool.name)
    return tools


def _tool(value: JSON, path: str) -> ToolDef:
    obj = as_object(value, path)
    if obj.get("type") != "function":
        raise invalid(join(path, "type"), f"only tools of type 'function' are supported, got {shown(obj.get('type'))}")
    reject_unknown(obj, _TOOL_KEYS, path, "a tool")
    fn_path = join(path, "function")
    fn = as_object(obj.get("function"), fn_path)
    reject_unknown(fn, _FUNCTION_KEYS, fn_path, "a function definition")
    name = as_str(fn.get("name"), join(fn_path, "name"))
    if not _NAME.fullmatch(name):
        raise invalid(join(fn_path, "name"), "a function name is 1-64 letters, digits, '_' or '-'")
    description = fn.get("description")
    parameters = fn.get("parameters")
    strict = fn.get("strict")
    return ToolDef(
        name=name,
        description=as_str(description, join(fn_path, "description")) if description is not None else None,
        parameters=as_object(parameters, join(fn_path, "parameters")) if parameters is not None else {},
        strict=as_bool(strict, join(fn_path, "strict")) if strict is not None else None,
    )


def decode_tool_choice(value: JSON, parallel: JSON, tools: list[ToolDef]) -> ToolChoice | None:
    choice: ToolChoice | None = None
    if isinstance(value, str):
        if value not in _MODES:
            raise invalid("tool_choice", f"expected one of auto, none, required or a function, got {shown(value)}")
        choice = ToolChoice(mode=cast(Literal["auto", "none", "required"], value))
    elif isinstance(value, dict):
        choice = _named(value, tools)
    elif value is not None:
        raise wrong_type("tool_choice", "a string or an object", value)
    if parallel is not None and not as_bool(parallel, "parallel_tool_calls"):
        choice = choice or ToolChoice(mode="auto")
        choice.disable_parallel = True
    return choice


def _named(obj: JSONObject, tools: list[ToolDef]) -> ToolChoice:
    if obj.get("type") != "function":
        raise invalid("tool_choice.type", f"only 'function' is supported, got {shown(obj.get('type'))}")
    reject_unknown(obj, _CHOICE_KEYS, "tool_choice", "tool_choice")
    fn = as_object(obj.get("function"), "tool_choice.function")
    reject_unknown(fn, frozenset({"name"}), "tool_choice.function", "tool_choice.function")
    name = as_str(fn.get("name"), "tool_choice.function.name", non_empty=True)
    if not any(t.name == name for t in tools):
        raise invalid("tool_choice.function.name", f"no tool named {shown(name)} in 'tools'")
    return ToolChoice(mode="tool", name=name)


def encode_tools(tools: list[ToolDef], choice: ToolChoice | None, body: JSONObject) -> None:
    """Adds tools, tool_choice and parallel_tool_calls to `body`; OpenAI rejects the latter two
    without tools, so they are sent only with tools."""
    if not tools:
        return
    out: list[JSON] = []
    for tool in tools:
        fn: JSONObject = {"name": tool.name}
        if tool.description is not None:
            fn["description"] = tool.description
        if tool.parameters:
            fn["parameters"] = tool.parameters
        if tool.strict is not None:  # (an Anthropic upstream has no such field: its encoder leaves it out)
            fn["strict"] = tool.strict
        out.append({"type": "function", "function": fn})
    body["tools"] = out
    if choice is None:
        return
    if choice.mode == "tool":
        body["tool_choice"] = {"type": "function", "function": {"name": choice.name or ""}}
    else:
        body["tool_choice"] = choice.mode
    if choice.disable_parallel:
        body["parallel_tool_calls"] = False
