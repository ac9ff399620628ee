"""core/makers.py: a maker's instance equals the class call's with the same fields, for every class made
so on the request path; what is not a slotted dataclass (or not all of its slots) is refused; references
are neither leaked nor lost; without the C accelerator the maker is the class."""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core import makers
from bastion.core.context import Attempt, RequestContext, new_context
from bastion.core.makers import maker
from bastion.core.types import ChatRequest, ChatResponse, Choice, Message, TextPart, ToolCall, Usage
from bastion.providers.circuit import Permit

native = pytest.importorskip("bastion._native")

_VALUES = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans(), st.floats(allow_nan=False),
                    st.lists(st.integers(), max_size=2), st.builds(TextPart, st.text(max_size=3)))
MADE = [TextPart, Message, ChatRequest, Usage, Choice, ChatResponse, Attempt, ToolCall, Permit]


@pytest.mark.parametrize("cls", MADE)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_made_instance_equals_the_class_call(cls: type[Any], data: st.DataObject) -> None:
    # a container field gets a container (an `__init__` written out turns None into a fresh one; the maker
    # stores what it is given: its callers pass the fresh container)
    values = [data.draw(st.lists(_VALUES, max_size=2) if f.default_factory is list
                        else st.dictionaries(st.text(max_size=2), _VALUES, max_size=2)
                        if f.default_factory is dict else _VALUES)
              for f in dataclasses.fields(cls)]
    made, called = maker(cls)(*values), cls(*values)
    assert type(made) is cls
    if cls.__eq__ is not object.__eq__:  # (a Permit is compared by identity)
        assert made == called and repr(made) == repr(called)
    for f, v in zip(dataclasses.fields(cls), values, strict=True):
        assert getattr(made, f.name) is v


def test_references_are_neither_leaked_nor_lost() -> None:
    make = maker(TextPart)
    text = "".join(["x", "y"])  # a fresh object
    before = sys.getrefcount(text)
    parts = [make(text, "text", None) for _ in range(1000)]
    assert sys.getrefcount(text) == before + 1000
    del parts
    assert sys.getrefcount(text) == before
    part = make(text, "text", None)
    part.text = "z"  # a slot set by the maker is an ordinary slot
    assert sys.getrefcount(text) == before


def test_the_maker_takes_every_field_by_position_only() -> None:
    make = maker(TextPart)
    with pytest.raises(TypeError):
        make("x")
    with pytest.raises(TypeError):
        make("x", "text", None, None)
    with pytest.raises(TypeError):
        make("x", "text", cache=None)


def test_what_is_not_a_slotted_dataclass_is_refused() -> None:
    @dataclasses.dataclass
    class Plain:
        a: int

    @dataclasses.dataclass(slots=True)
    class Posted:
        a: int

        def __post_init__(self) -> None:
            self.a += 1

    class NotData:
        __slots__ = ("a",)

    for cls in (Plain, Posted, NotData):
        with pytest.raises(TypeError):
            maker(cls)
    for cls, names in ((Plain, ("a",)), (TextPart, ("text", "text")), (TextPart, ("nope",)),
                       (TextPart, ("kind",)), (int, ()), (TextPart, (1,))):
        with pytest.raises((TypeError, AttributeError)):
            native.slot_maker(cls, names)
    with pytest.raises(TypeError):
        native.slot_maker(TextPart, tuple(f"n{i}" for i in range(33)))


def test_without_the_c_accelerator_the_maker_is_the_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(makers, "_slot_maker", None)
    assert maker(TextPart) is TextPart
    assert maker(Message)("user", [TextPart("x")], [], None, None, False, None, []) == Message("user", [TextPart("x")])


@settings(max_examples=60, deadline=None)
@given(request_id=st.text(max_size=8), ingress=st.sampled_from(["openai", "anthropic"]),
       operation=st.sampled_from(["chat", "embeddings", "models"]), client=st.one_of(st.none(), st.text(max_size=8)))
def test_new_context_equals_the_class_call(request_id: str, ingress: Any, operation: Any, client: str | None) -> None:
    before = time.perf_counter(), time.time()
    made = new_context(request_id, ingress, operation, client)
    called = RequestContext(request_id, ingress, operation, client)
    after = time.perf_counter(), time.time()
    assert type(made) is RequestContext
    assert before[0] <= made.started <= after[0] and before[1] <= made.wall_time <= after[1]
    made.started, made.wall_time = called.started, called.wall_time
    assert made == called and repr(made) == repr(called)
    for f in dataclasses.fields(RequestContext):  # a fresh container per context, as the class call's
        if f.default_factory in (list, dict):
            assert getattr(made, f.name) is not getattr(new_context(request_id, ingress, operation, client), f.name)
