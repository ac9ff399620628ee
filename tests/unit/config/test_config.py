"""Config loading: unknown keys and bad values name their path, secret refs resolve, docs stay true."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.cli.main import main
from bastion.config.loader import ConfigError, load_config, parse_config
from bastion.config.reference import render

ROOT = Path(__file__).resolve().parents[3]


def _errors(raw: object, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(raw, env or {})
    return e.value.errors


def test_unknown_keys_name_their_path() -> None:
    errs = _errors({"server": {"prot": 1}, "providers": {"x": {"kind": "openai_compatible",
                                                               "base_url": "http://h", "colour": 1}}})
    assert "server.prot: unknown key" in errs
    assert "providers.x.colour: unknown key" in errs


def test_bad_values_name_their_path() -> None:
    errs = _errors({"server": {"port": 70000}, "models": [{"name": "m", "targets": []}]})
    assert any(e.startswith("server.port:") for e in errs)
    assert any(e.startswith("models[0].targets:") for e in errs)


def test_model_targets_must_name_a_known_provider() -> None:
    errs = _errors({"models": [{"name": "m", "targets": [{"provider": "nope", "model": "x"}]}]})
    assert any(e.startswith("models[0].targets[0].provider: unknown provider") for e in errs), errs


def test_cross_section_errors_start_with_their_field() -> None:
    errs = _errors({"teams": {"eng": {"policy": "stricto"}}})
    assert "teams.eng.policy: unknown policy 'stricto'" in errs, errs


def test_env_and_file_secret_refs(tmp_path: Path) -> None:
    f = tmp_path / "key"
    f.write_text("sk-from-file\n")
    cfg = parse_config({"providers": {
        "a": {"kind": "openai", "base_url": "https://x/v1", "api_key": "${env:MY_KEY}"},
        "b": {"kind": "anthropic", "base_url": "https://y", "api_key": f"${{file:{f}}}"}}},
        {"MY_KEY": "sk-from-env"})
    assert cfg.providers["a"].api_key is not None and cfg.providers["a"].api_key.reveal() == "sk-from-env"
    assert cfg.providers["b"].api_key is not None and cfg.providers["b"].api_key.reveal() == "sk-from-file"
    assert "sk-from-env" not in repr(cfg)


def test_missing_secret_refs_are_errors_without_values() -> None:
    errs = _errors({"server": {"admin_key": "${env:NOPE}"}})
    assert errs == ["server.admin_key: environment variable NOPE is not set"]
    errs = _errors({"server": {"admin_key": "${file:/no/such/file}"}})
    assert errs[0].startswith("server.admin_key: cannot read secret file /no/such/file")


def test_invalid_yaml_says_where(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("server: {port: 1\nmodels: [")
    with pytest.raises(ConfigError) as e:
        load_config(p, {})
    assert "invalid YAML at line" in e.value.errors[0]


def test_builtin_default_configures_providers_from_env() -> None:
    none = load_config(None, {})
    assert set(none.providers) == {"local"}
    both = load_config(None, {"OPENAI_API_KEY": "sk-a", "ANTHROPIC_API_KEY": "sk-b"})
    assert set(both.providers) == {"openai", "anthropic", "local"}
    assert {"gpt-4o-mini", "claude-sonnet-4-6", "llama3.2"} <= {m.name for m in both.models}


def test_config_check_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: {prot: 1}\nmodels: [{name: m, targets: [{provider: p, model: nothing-priced}]}]\n"
                   "providers: {p: {kind: openai_compatible, base_url: 'http://h'}}\n")
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "server.prot: unknown key" in err
    good = tmp_path / "good.yaml"
    good.write_text("providers: {p: {kind: openai_compatible, base_url: 'http://h'}}\n"
                    "models: [{name: m, targets: [{provider: p, model: x}]}]\n"
                    "pricing: {x: {input_per_mtok: 0, output_per_mtok: 0}}\n")
    assert main(["config", "check", str(good)]) == 0


def test_unpriced_model_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("providers: {p: {kind: openai_compatible, base_url: 'http://h'}}\n"
                 "models: [{name: m, targets: [{provider: p, model: mystery}]}]\n")
    assert main(["config", "check", str(p)]) == 2
    assert "models[0].targets[0].model" in capsys.readouterr().err


def test_docs_config_md_is_generated_from_the_schema() -> None:
    assert (ROOT / "docs" / "config.md").read_text() == render(), "run: bastion config docs > docs/config.md"
