"""The PII scanner on Faker values (data/pii_eval/faker_eval.py): recall and precision floors per type.

The floors are the values measured on this seed and size (612 positives, 585 look-alike
negatives, ten locales); a detector change that loses a Faker format or reports a look-alike
fails here. Regenerate them with `faker_eval.py --n 12 --seed 7` when Faker's data changes.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load() -> ModuleType:
    path = Path(__file__).parents[3] / "data" / "pii_eval" / "faker_eval.py"
    spec = importlib.util.spec_from_file_location("faker_eval", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


DEFAULT, OTHER = "default regions", "other locales"

# (type, locale group): (recall, precision) measured on seed 7, 12 values per type and locale.
FLOORS = {
    ("email", DEFAULT): (1.0, 1.0), ("email", OTHER): (1.0, 1.0),
    ("phone", DEFAULT): (0.700, 0.976), ("phone", OTHER): (0.683, 1.0),
    ("credit_card", DEFAULT): (0.950, 0.982), ("credit_card", OTHER): (0.933, 0.982),
    # en_IN's Faker IBANs are 21-character GB IBANs (one short): 48 of 60 is every real one.
    ("iban", DEFAULT): (0.800, 1.0), ("iban", OTHER): (1.0, 1.0),
    ("us_ssn", DEFAULT): (1.0, 1.0),
    ("ip_address", DEFAULT): (1.0, 0.983), ("ip_address", OTHER): (1.0, 0.983),
}


@pytest.fixture(scope="module")
def score() -> Any:
    """The scores of the whole run, built once by the worker that runs this module (not at collection)."""
    pytest.importorskip("faker")
    fe = _load()
    return fe.score(fe.build(12, 7))


@pytest.mark.parametrize(("key", "floor"), FLOORS.items(), ids=[f"{t}-{g.split()[0]}" for t, g in FLOORS])
def test_recall_and_precision_floors(key: tuple[str, str], floor: tuple[float, float], score: Any) -> None:
    tp, fn, fp = score.tp[key], score.fn[key], score.fp[key]
    assert tp + fn >= 12, key  # the type was generated at all
    recall, precision = tp / (tp + fn), tp / (tp + fp)
    assert recall >= floor[0], f"{key}: recall {recall:.3f} < {floor[0]}"
    assert precision >= floor[1], f"{key}: precision {precision:.3f} < {floor[1]}"


def test_look_alikes_without_false_positives(score: Any) -> None:
    """Families the scanner must not report at all (ISBNs and user agents did before)."""
    clean = ["luhn_fail_card", "card_length_non_luhn", "isbn", "bban", "iban_bad_check", "date", "datetime",
             "user_agent_versions", "uuid", "hex_hash", "mac_address", "price", "coordinates", "national_id"]
    for family in clean:
        assert score.neg_texts[family] >= 15, family
        assert score.neg_hit_texts[family] == 0, (family, score.neg_fp_types.get(family))


def test_real_phone_numbers_of_default_regions(score: Any) -> None:
    """Recall on the Faker phones `phonenumbers` accepts for the locale's region (a miss there is
    a format or context gap, not a number the validator rejects)."""
    hit, miss = score.valid[("phone", DEFAULT, True)], score.valid[("phone", DEFAULT, False)]
    assert hit + miss >= 40
    assert hit / (hit + miss) >= 0.808, (hit, miss)  # 38 of 47 measured
