"""The packaged, versioned price table, config overrides, and integer cost arithmetic.

Money never touches a float: a published price (USD per million tokens, parsed as Decimal)
becomes an integer number of pico-USD (1e-12 USD) per token, token counts multiply it, and
the total is rounded *up* to whole micro-USD (1e-6 USD), the unit of every budget and record.

What is billed (both vendors, documented in prices.json):
- `Usage.input_tokens` includes cached reads and cache writes, so uncached input is
  input - cached - cache_write, each part at its own price (defaults: the input price).
- Reasoning ("thinking") tokens are billed as output by OpenAI and Anthropic and are counted
  inside `output_tokens`; only an entry with an explicit reasoning price bills them apart
  (output - reasoning at the output price, reasoning at the reasoning price).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from importlib import resources
from typing import TYPE_CHECKING

from bastion.core.types import Usage

if TYPE_CHECKING:
    from bastion.config.limits import PriceOverride
    from bastion.config.schema import BastionConfig

PICO_PER_MICRO = 1_000_000
_OPENAI_DATE = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_ANTHROPIC_DATE = re.compile(r"-\d{8}$")


class PriceError(ValueError):
    """The price table or an override is malformed (a config error at start-up)."""


def per_mtok_to_pico(usd_per_mtok: Decimal | float | int | str) -> int:
    """USD per million tokens → integer pico-USD per token (rounded up, never under-billed)."""
    d = Decimal(str(usd_per_mtok)) if not isinstance(usd_per_mtok, Decimal) else usd_per_mtok
    if d < 0:
        raise PriceError("a price cannot be negative")
    return int((d * PICO_PER_MICRO).to_integral_value(rounding=ROUND_CEILING))


def usd_to_micros(usd: Decimal | float | int | str) -> int:
    """A USD cap → integer micro-USD, rounded down (a cap never grows by rounding)."""
    d = Decimal(str(usd)) if not isinstance(usd, Decimal) else usd
    return int((d * 1_000_000).to_integral_value(rounding=ROUND_FLOOR))


def format_usd(micros: int) -> str:
    """Micro-USD as an exact decimal string, e.g. 1234567 → "1.234567"."""
    sign = "-" if micros < 0 else ""
    q, r = divmod(abs(micros), 1_000_000)
    return f"{sign}{q}.{r:06d}"


@dataclass(slots=True, frozen=True)
class Price:
    """Integer pico-USD per token for each billed kind of token."""

    input: int
    output: int
    cached_input: int
    cache_write: int
    reasoning: int | None = None  # None: reasoning is billed as output (OpenAI, Anthropic)
    cache_write_1h: int | None = None  # Anthropic's 1-hour cache writes; None: the cache_write price
    # the dearest input and output kinds, for worst_case_micros (derived: not compared, not shown)
    _worst_in: int = dataclasses.field(init=False, repr=False, compare=False)
    _worst_out: int = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_worst_in", max(self.input, self.cached_input, self.cache_write, self._write_1h()))
        object.__setattr__(self, "_worst_out", max(self.output, self.reasoning or 0))

    def _write_1h(self) -> int:
        return self.cache_write if self.cache_write_1h is None else self.cache_write_1h

    def cost_pico(self, usage: Usage) -> int:
        if (usage.cached_input_tokens <= 0 and usage.cache_write_tokens <= 0
                and (self.reasoning is None or usage.reasoning_tokens <= 0)):
            # the usual usage (no cache, no reasoning billed apart): what the general case computes
            # (conditionals, not max(): a builtin call with its argument parsing costs ~600 instructions)
            i, o = usage.input_tokens, usage.output_tokens
            return (i if i > 0 else 0) * self.input + (o if o > 0 else 0) * self.output
        cached = max(0, usage.cached_input_tokens)
        written = max(0, usage.cache_write_tokens)
        hour = min(max(0, usage.cache_write_1h_tokens), written)
        uncached = max(0, usage.input_tokens - cached - written)
        total = (uncached * self.input + cached * self.cached_input + (written - hour) * self.cache_write
                 + hour * self._write_1h())
        out = max(0, usage.output_tokens)
        if self.reasoning is not None:
            reasoning = min(max(0, usage.reasoning_tokens), out)
            total += (out - reasoning) * self.output + reasoning * self.reasoning
        else:
            total += out * self.output
        return total

    def cost_micros(self, usage: Usage) -> int:
        """Cost in micro-USD, rounded up."""
        return -(-self.cost_pico(usage) // PICO_PER_MICRO)

    def worst_rates(self) -> tuple[int, int]:
        """Pico-USD per token of the dearest input and output kinds (what worst_case_micros charges)."""
        return self._worst_in, self._worst_out

    def worst_case_micros(self, input_tokens: int, output_tokens: int) -> int:
        """The most `input_tokens` in and `output_tokens` out can cost, however the provider
        splits input into cached/written/uncached or output into reasoning."""
        pico = ((input_tokens if input_tokens > 0 else 0) * self._worst_in
                + (output_tokens if output_tokens > 0 else 0) * self._worst_out)
        return -(-pico // PICO_PER_MICRO)


def _price_from_mapping(name: str, entry: Mapping[str, object]) -> Price:
    try:
        inp = per_mtok_to_pico(entry["input"])  # type: ignore[arg-type]
        out = per_mtok_to_pico(entry["output"])  # type: ignore[arg-type]
    except KeyError as e:
        raise PriceError(f"price of {name!r} lacks {e.args[0]!r}") from None

    def opt(key: str, default: int) -> int:
        v = entry.get(key)
        return default if v is None else per_mtok_to_pico(v)  # type: ignore[arg-type]

    reasoning = entry.get("reasoning")
    return Price(input=inp, output=out, cached_input=opt("cached_input", inp),
                 cache_write=opt("cache_write", inp),
                 reasoning=None if reasoning is None else per_mtok_to_pico(reasoning),  # type: ignore[arg-type]
                 cache_write_1h=opt("cache_write_1h", opt("cache_write", inp)))


def price_from_override(o: PriceOverride) -> Price:
    inp = per_mtok_to_pico(o.input_per_mtok)
    return Price(
        input=inp, output=per_mtok_to_pico(o.output_per_mtok),
        cached_input=inp if o.cached_input_per_mtok is None else per_mtok_to_pico(o.cached_input_per_mtok),
        cache_write=inp if o.cache_write_per_mtok is None else per_mtok_to_pico(o.cache_write_per_mtok),
        reasoning=None if o.reasoning_per_mtok is None else per_mtok_to_pico(o.reasoning_per_mtok),
        cache_write_1h=None if o.cache_write_1h_per_mtok is None else per_mtok_to_pico(o.cache_write_1h_per_mtok))


class PriceTable:
    """Prices by upstream model name. Lookup: exact name, then an alias, then the name with
    a dated snapshot suffix (-2024-07-18, -20250929) removed. Overrides win over the table."""

    def __init__(self, prices: Mapping[str, Price], aliases: Mapping[str, str] | None = None,
                 version: str = "", updated: str = "") -> None:
        self._prices = dict(prices)
        self._aliases = dict(aliases or {})
        self.version = version
        self.updated = updated
        self._cache: dict[str, Price | None] = {}

    @classmethod
    def packaged(cls) -> PriceTable:
        """The table shipped in this package (never fetched over the network)."""
        text = resources.files("bastion.cost").joinpath("prices.json").read_text(encoding="utf-8")
        return cls.from_json(text)

    @classmethod
    def from_json(cls, text: str) -> PriceTable:
        raw = json.loads(text, parse_float=Decimal)
        if not isinstance(raw, dict) or not isinstance(raw.get("models"), dict):
            raise PriceError("price table must be an object with a 'models' object")
        for field in ("version", "updated"):
            if not isinstance(raw.get(field), str):
                raise PriceError(f"price table lacks its {field!r} string")
        prices = {name: _price_from_mapping(name, entry) for name, entry in raw["models"].items()}
        aliases = dict(raw.get("aliases") or {})
        for alias, target in aliases.items():
            if target not in prices:
                raise PriceError(f"price alias {alias!r} names unknown model {target!r}")
        return cls(prices, aliases, version=raw["version"], updated=raw["updated"])

    @classmethod
    def for_config(cls, config: BastionConfig) -> PriceTable:
        """The packaged table with `config.pricing` overrides and additions applied."""
        return cls.packaged().with_overrides(config.pricing)

    def with_overrides(self, overrides: Mapping[str, PriceOverride]) -> PriceTable:
        prices = dict(self._prices)
        aliases = dict(self._aliases)
        for name, o in overrides.items():
            prices[name] = price_from_override(o)
            aliases.pop(name, None)
        return PriceTable(prices, aliases, version=self.version, updated=self.updated)

    def get(self, model: str) -> Price | None:
        try:
            return self._cache[model]
        except KeyError:
            pass
        price = self._lookup(model)
        if len(self._cache) < 10_000:
            self._cache[model] = price
        return price

    def _lookup(self, model: str) -> Price | None:
        for name in (model, _OPENAI_DATE.sub("", model), _ANTHROPIC_DATE.sub("", model)):
            if name in self._prices:
                return self._prices[name]
            target = self._aliases.get(name)
            if target is not None:
                return self._prices[target]
        return None

    def __contains__(self, model: str) -> bool:
        return self.get(model) is not None

    def models(self) -> list[str]:
        return sorted(self._prices)


def check_prices(config: BastionConfig, table: PriceTable | None = None) -> list[str]:
    """Config errors for every target model that has no price (set one under `pricing`, 0 is
    allowed for free/local models). Each error names `models[i].targets[j].model`."""
    table = (table or PriceTable.packaged()).with_overrides(config.pricing)
    errors: list[str] = []
    for i, m in enumerate(config.models):
        for j, t in enumerate(m.targets):
            if t.model not in table:
                errors.append(
                    f"models[{i}].targets[{j}].model: no price for {t.model!r} (provider {t.provider!r}); "
                    f"set pricing.{t.model} with input_per_mtok and output_per_mtok (0 is allowed)")
    return errors
