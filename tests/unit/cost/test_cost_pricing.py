"""The packaged price table, overrides, integer cost arithmetic, and check_prices."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from bastion.config.loader import parse_config
from bastion.core.types import Usage
from bastion.cost.pricing import (
    PriceError,
    PriceTable,
    check_prices,
    format_usd,
    per_mtok_to_pico,
    usd_to_micros,
)


def test_packaged_table_is_versioned_and_covers_current_models() -> None:
    raw = json.loads(resources.files("bastion.cost").joinpath("prices.json").read_text())
    assert raw["version"] and raw["updated"] and raw["sources"]["openai"] and raw["sources"]["anthropic"]
    t = PriceTable.packaged()
    assert t.version == raw["version"]
    for m in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini", "gpt-5",
              "gpt-5-mini", "text-embedding-3-small", "text-embedding-3-large", "claude-opus-4-1",
              "claude-sonnet-4-5", "claude-haiku-4-5", "claude-3-5-haiku", "claude-3-haiku"):
        assert m in t, m


def test_prices_become_exact_integers() -> None:
    assert per_mtok_to_pico("0.15") == 150_000  # pico-USD per token
    assert per_mtok_to_pico(0.075) == 75_000
    assert per_mtok_to_pico("0.0000001") == 1  # below a pico-USD: rounded up, never free
    p = PriceTable.packaged().get("gpt-4o-mini")
    assert p is not None and (p.input, p.cached_input, p.output) == (150_000, 75_000, 600_000)
    with pytest.raises(PriceError):
        per_mtok_to_pico(-1)


def test_cost_discounts_cached_input_and_rounds_up() -> None:
    p = PriceTable.packaged().get("gpt-4o-mini")
    assert p is not None
    # 1M input of which 400k cached, 100k output: 0.6*0.15 + 0.4*0.075 + 0.1*0.6 = $0.18
    assert p.cost_micros(Usage(input_tokens=1_000_000, cached_input_tokens=400_000, output_tokens=100_000)) == 180_000
    assert p.cost_micros(Usage(input_tokens=1)) == 1  # 0.15 µUSD → 1 µUSD (round up)
    assert p.cost_micros(Usage()) == 0


def test_anthropic_cache_writes_and_reads_have_their_own_prices() -> None:
    p = PriceTable.packaged().get("claude-sonnet-4-5-20250929")  # dated snapshot → alias
    assert p is not None
    u = Usage(input_tokens=1_000_000 + 2_000_000 + 100_000, cache_write_tokens=2_000_000,
              cached_input_tokens=100_000, output_tokens=10_000)
    # 1M * $3 + 2M * $3.75 + 0.1M * $0.30 + 0.01M * $15
    assert p.cost_micros(u) == 3_000_000 + 7_500_000 + 30_000 + 150_000


def test_one_hour_cache_writes_are_billed_at_their_own_rate_and_reserved_for() -> None:
    p = PriceTable.packaged().get("claude-sonnet-4-5")
    assert p is not None
    u = Usage(input_tokens=2_000_000, cache_write_tokens=2_000_000, cache_write_1h_tokens=1_000_000)
    assert p.cost_micros(u) == 3_750_000 + 6_000_000  # 1M at $3.75 (5 min) + 1M at $6 (1 h, 2x input)
    assert p.worst_case_micros(1_000_000, 0) == 6_000_000  # the reservation covers the dearest input


def test_a_configured_one_hour_write_price_overrides_the_table() -> None:
    cfg = parse_config({"pricing": {"m": {"input_per_mtok": 1, "output_per_mtok": 1, "cache_write_per_mtok": 2,
                                          "cache_write_1h_per_mtok": 5}}}, env={})
    p = PriceTable.for_config(cfg).get("m")
    assert p is not None
    assert p.cost_micros(Usage(input_tokens=2_000_000, cache_write_tokens=2_000_000,
                               cache_write_1h_tokens=1_000_000)) == 2_000_000 + 5_000_000


def test_reasoning_is_billed_as_output_unless_priced_apart() -> None:
    u = Usage(input_tokens=0, output_tokens=1_000_000, reasoning_tokens=800_000)
    o3 = PriceTable.packaged().get("o3")
    assert o3 is not None and o3.cost_micros(u) == 8_000_000  # all output at $8, reasoning inside it
    cfg = parse_config({"pricing": {"r1": {"input_per_mtok": 1, "output_per_mtok": 2, "reasoning_per_mtok": 5}}},
                       env={})
    r1 = PriceTable.for_config(cfg).get("r1")
    assert r1 is not None and r1.cost_micros(u) == 200_000 * 2 + 800_000 * 5


def test_worst_case_uses_the_dearest_input_kind() -> None:
    p = PriceTable.packaged().get("claude-opus-4-1")
    assert p is not None
    # 1-hour cache writes ($30) cost more than 5-minute ones ($18.75) and plain input ($15): reserve at that
    assert p.worst_case_micros(1_000_000, 1_000_000) == 30_000_000 + 75_000_000


def test_dated_openai_snapshots_resolve_but_distinct_entries_win() -> None:
    t = PriceTable.packaged()
    assert t.get("gpt-4o-mini-2024-07-18") == t.get("gpt-4o-mini")
    old, cur = t.get("gpt-4o-2024-05-13"), t.get("gpt-4o")
    assert old is not None and cur is not None and old.input > cur.input
    assert t.get("no-such-model") is None


def test_overrides_replace_and_add() -> None:
    cfg = parse_config({"pricing": {"gpt-4o-mini": {"input_per_mtok": 1, "output_per_mtok": 2},
                                    "llama3.2": {"input_per_mtok": 0, "output_per_mtok": 0}}}, env={})
    t = PriceTable.for_config(cfg)
    p = t.get("gpt-4o-mini")
    assert p is not None and (p.input, p.cached_input, p.output) == (1_000_000, 1_000_000, 2_000_000)
    free = t.get("llama3.2")
    assert free is not None and free.cost_micros(Usage(input_tokens=10**9, output_tokens=10**9)) == 0


def _cfg(pricing: dict[str, object]) -> object:
    return parse_config({
        "providers": {"openai": {"kind": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-x"},
                      "local": {"kind": "openai_compatible", "base_url": "http://127.0.0.1:11434/v1"}},
        "models": [{"name": "fast", "targets": [{"provider": "openai", "model": "gpt-4o-mini"},
                                                {"provider": "local", "model": "llama3.2"}]},
                   {"name": "llama", "targets": [{"provider": "local", "model": "llama3.2"}]}],
        "pricing": pricing}, env={})


def test_check_prices_names_every_unpriced_target() -> None:
    errors = check_prices(_cfg({}))  # type: ignore[arg-type]
    assert len(errors) == 2
    assert errors[0].startswith("models[0].targets[1].model: no price for 'llama3.2'")
    assert errors[1].startswith("models[1].targets[0].model:")
    assert check_prices(_cfg({"llama3.2": {"input_per_mtok": 0, "output_per_mtok": 0}})) == []  # type: ignore[arg-type]


def test_money_helpers() -> None:
    assert usd_to_micros(500) == 500_000_000
    assert usd_to_micros(0.1) == 100_000  # via the decimal text, not the binary float
    assert usd_to_micros("0.0000019") == 1  # caps round down
    assert format_usd(1_234_567) == "1.234567" and format_usd(5) == "0.000005" and format_usd(-5) == "-0.000005"


def test_malformed_tables_are_refused() -> None:
    with pytest.raises(PriceError, match="version"):
        PriceTable.from_json('{"models": {}}')
    with pytest.raises(PriceError, match="lacks 'output'"):
        PriceTable.from_json('{"version": "1", "updated": "x", "models": {"m": {"input": 1}}}')
    with pytest.raises(PriceError, match="unknown model"):
        PriceTable.from_json('{"version": "1", "updated": "x", "models": {}, "aliases": {"a": "b"}}')


def test_config_errors_refuse_per_process_counters_with_several_workers() -> None:
    from bastion.limits.runtime import config_errors

    cfg = parse_config({"server": {"workers": 2}}, env={})
    assert any(e.startswith("limits.backend:") for e in config_errors(cfg))
    cfg = parse_config({"server": {"workers": 2}, "limits": {"backend": "redis"}}, env={})
    assert config_errors(cfg) == []
