"""The scanner registry: scanner names in config → factories that build them from options."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping

from bastion.policy.scanner import Scanner

ScannerFactory = Callable[..., Scanner]


class ScannerOptionError(ValueError):
    """A scanner option is invalid; `field` names it (the engine prefixes the rule's path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


_UNEXPECTED = re.compile(r"unexpected keyword argument '([^']+)'")


class ScannerRegistry:
    """Maps scanner names to factories called as `factory(**options)` at start-up."""

    def __init__(self, factories: Mapping[str, ScannerFactory] | None = None) -> None:
        self._factories: dict[str, ScannerFactory] = dict(factories or {})

    def register(self, name: str, factory: ScannerFactory) -> None:
        self._factories[name] = factory

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def names(self) -> list[str]:
        return sorted(self._factories)

    def copy(self) -> ScannerRegistry:
        return ScannerRegistry(self._factories)

    def create(self, name: str, options: Mapping[str, object]) -> Scanner:
        """Build scanner `name`; raises KeyError when unknown, ScannerOptionError on bad options."""
        factory = self._factories[name]
        try:
            return factory(**options)
        except ScannerOptionError:
            raise
        except TypeError as e:
            m = _UNEXPECTED.search(str(e))
            if m:
                raise ScannerOptionError(m.group(1), "unknown option") from None
            raise ScannerOptionError("", f"invalid options: {e}") from None
        except (ValueError, ImportError) as e:
            raise ScannerOptionError("", str(e)) from None


def _injection(**options: object) -> Scanner:
    """Imported on first use: the classifier is optional and loads its model at build time."""
    try:
        module = importlib.import_module("bastion.policy.scanners.injection")
    except ImportError as e:
        raise ImportError(f"the injection scanner is not available ({e.msg})") from None
    factory: ScannerFactory = module.InjectionScanner
    return factory(**options)


def default_registry() -> ScannerRegistry:
    """The built-in text scanners (`limits` is a request check, built by the engine)."""
    from bastion.policy.scanners.keywords import KeywordScanner
    from bastion.policy.scanners.patterns import RegexScanner
    from bastion.policy.scanners.pii import PiiScanner
    from bastion.policy.scanners.secrets import SecretsScanner

    return ScannerRegistry({
        "secrets": SecretsScanner,
        "pii": PiiScanner,
        "regex": RegexScanner,
        "keywords": KeywordScanner,
        "injection": _injection,
    })


def str_list(field: str, value: object) -> list[str]:
    """A list of strings from config, or a ScannerOptionError naming `field`."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ScannerOptionError(field, "must be a list of strings")
    return list(value)


def number(field: str, value: object, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ScannerOptionError(field, f"must be a number between {low} and {high}")
    return float(value)


def flag(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ScannerOptionError(field, "must be true or false")
    return value
