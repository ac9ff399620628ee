"""The plain-message fast path of providers/openai/messages.py:decode_messages decodes exactly as
decode_message does, and every message it does not take still gets the full checks."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.core.errors import InvalidRequest
from bastion.providers.openai.messages import decode_message, decode_messages

SAME: list[Any] = [
    {"role": "system", "content": "be brief"},
    {"role": "developer", "content": "d"},
    {"role": "user", "content": "hello"},
    {"role": "assistant", "content": "hi"},
    {"content": "hello", "role": "user"},  # key order does not matter
    {"role": "user", "content": ""},  # empty: the full path
    {"role": "assistant", "content": ""},
    {"role": "user", "content": [{"type": "text", "text": "x"}]},
    {"role": "user", "content": "x", "name": "bob"},
    {"role": "tool", "content": "42", "tool_call_id": "c1"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                            "function": {"name": "f", "arguments": "{}"}}]},
]

REFUSED: list[Any] = [
    {"role": "tool", "content": "42"},  # no tool_call_id
    {"role": "function", "content": "x"},
    {"role": "robot", "content": "x"},
    {"role": ["user"], "content": "x"},  # unhashable role
    {"role": "user", "content": 5},
    {"role": "user", "text": "x"},
    {"role": "user", "content": "x", "extra": 1},
    {"role": "user"},
    ["user", "x"],
    "user: x",
]


@pytest.mark.parametrize("msg", SAME)
def test_the_fast_path_decodes_as_the_full_checks_do(msg: Any) -> None:
    assert decode_messages([msg]) == [decode_message(msg, "messages[0]")]


@pytest.mark.parametrize("msg", REFUSED)
def test_messages_off_the_fast_path_are_still_refused_with_their_path(msg: Any) -> None:
    with pytest.raises(InvalidRequest) as e:
        decode_messages([{"role": "user", "content": "ok"}, msg])
    assert "messages[1]" in (e.value.param or "")
