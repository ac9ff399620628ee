"""The C accelerator for the test modules that compare it with the Python it replaces."""

from __future__ import annotations

import os
from types import ModuleType

import pytest


def native_or_skip(native: ModuleType | None) -> ModuleType:
    """`native` (a scanner module's `_native`); without it skip the calling module, or fail under CI=true."""
    if native is None:
        if os.environ.get("CI") == "true":
            pytest.fail("bastion._native is not built (CI=true: the install must build it; see setup.py)",
                        pytrace=False)
        pytest.skip("bastion._native is not built (no C compiler at install time)", allow_module_level=True)
    return native
