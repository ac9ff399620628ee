"""Instances of slotted dataclasses made without a class call, for the few made on every request.

A class call with a Python `__init__` costs CPython 3.11 ~1.7k instructions for a `TextPart` and ~4k for
a `ChatRequest` (counted by valgrind); `maker(cls)` gives a callable that takes every field of `cls`, in
field order and by position, and makes the instance in C (`_native.slot_maker`: the slots set, neither
`__new__` nor `__init__` run) in ~0.3k. Its caller passes every field as the class's `__init__` would
set it (a fresh list where the default is a fresh list): the result is then equal to the class call's.
Without the C accelerator the maker is the class itself, called with the same arguments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

_slot_maker: Callable[[type[Any], tuple[str, ...]], Callable[..., Any]] | None
try:
    from bastion._native import slot_maker as _slot_maker
except ImportError:  # pragma: no cover - the package works without the C accelerator
    _slot_maker = None

T = TypeVar("T")


def maker(cls: type[T]) -> Callable[..., T]:
    """A maker of `cls` instances from all of its fields by position. Only for slotted dataclasses
    without `__post_init__` and whose `__init__` takes its fields in order (generated, or written out
    with the same parameters)."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        raise TypeError(f"maker: {cls.__name__} is not a slotted dataclass without __post_init__")
    if _slot_maker is None:
        return cls
    names = tuple(f.name for f in dataclasses.fields(cls))
    if set(names) != {s for c in cls.__mro__ for s in getattr(c, "__slots__", ())}:
        raise TypeError(f"maker: the slots of {cls.__name__} are not its fields")
    made: Callable[..., T] = _slot_maker(cls, names)
    return made
