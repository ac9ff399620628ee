"""An independent PII evaluation: values from Faker (a generator we did not write), not from generate.py.

Run: .venv/bin/python data/pii_eval/faker_eval.py [--n 120] [--seed 7] [--misses 20]
Positives are Faker's own values (`phone_number()` over every format of the locale, every
`credit_card_number()` card type, `iban()`, en_US `ssn()`, `ipv4()`/`ipv4_private()`/
`ipv4_public()`/`ipv6()`, `email()`/`free_email()`/`company_email()`) for the default
`phone_regions` locales and for five locales the defaults do not cover, embedded in Faker
prose, a "call me at" sentence, a CSV line, a JSON object or a signature block. Negatives are
Faker values of look-alike shapes (EAN/ISBN/UPC, card-length digits failing Luhn, BBANs,
dates, versions, MSISDNs, UUIDs, hashes, prices, other countries' national IDs ...), plus the
benign texts (label 0) of data/injection/corpus/*.jsonl as real-world text. Scoring is
evaluate.py's: the text goes through the engine, a prediction is correct when it has the gold
type and overlaps the gold span. Seeded and deterministic; prints Markdown tables (with
--misses N it also prints N missed values per type, for a human to read: not for a file).
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers
from faker import Faker

from bastion.config.policy import PolicyConfig
from bastion.policy.engine import PolicyEngine
from bastion.policy.scanners.pii import PII_TYPES
from bastion.policy.scanners.pii_checks import IBAN_LENGTHS  # the ISO 13616 registry lengths

ENGINE = PolicyEngine("eval", PolicyConfig.model_validate({"input": [
    {"scanner": "pii", "action": "flag"}, {"scanner": "secrets", "action": "flag"}]}))
DEFAULT_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "en_IN")  # the default phone_regions
OTHER_LOCALES = ("es_ES", "it_IT", "nl_NL", "pt_BR", "ja_JP")
REGION = {loc: loc.split("_")[1] for loc in DEFAULT_LOCALES + OTHER_LOCALES}
CORPUS = Path(__file__).parents[1] / "injection" / "corpus"
KEY = {"email": "email", "phone": "phone", "credit_card": "card_number", "iban": "iban", "us_ssn": "ssn",
       "ip_address": "ip"}
INTRO = {"email": "email me at", "phone": "call me at", "credit_card": "my card number is",
         "iban": "please wire it to", "us_ssn": "my SSN is", "ip_address": "the server is at"}
LABEL = {"email": "Email:", "phone": "Tel:", "credit_card": "Card:", "iban": "IBAN:", "us_ssn": "SSN:",
         "ip_address": "Host:"}


@dataclass
class Sample:
    text: str
    gold: list[tuple[str, int, int]]
    type: str  # the PII type, or the negative family
    locale: str
    fmt: str  # Faker method or format the value came from
    value: str
    negative: bool = False
    allowed: frozenset[str] = frozenset()  # types a negative may legitimately report (an MSISDN is a phone)


def group_of(locale: str) -> str:
    return "default regions" if locale in DEFAULT_LOCALES else "other locales"


# ---- carriers ---------------------------------------------------------------------------

def carrier(fake: Faker, rng: random.Random, type_: str, value: str, negative: bool) -> tuple[str, int]:
    """A text holding `value`, and the value's offset in it."""
    kind = rng.choice(["prose", "prose", "prose", "intro", "csv", "json", "signature"] if not negative
                      else ["prose", "prose", "prose", "csv", "json", "bare"])
    name = fake.name()
    if kind == "prose":
        sentences = fake.sentences(rng.randint(1, 4))
        words = " ".join(sentences).split(" ")
        if len(words) == 1:  # a language written without spaces: the value sits between sentences
            k = rng.randint(0, len(sentences))
            before, after = "".join(sentences[:k]), "".join(sentences[k:])
            return before + value + after, len(before)
        k = rng.randint(0, len(words))
        before = " ".join(words[:k]) + (" " if k else "")
        after = (" " if k < len(words) else "") + " ".join(words[k:])
        return before + value + after, len(before)
    if kind == "intro":
        before = f"{rng.choice(['Hi, ', '', 'Thanks! '])}{INTRO[type_]} "
        return before + value + rng.choice(["", ".", " tomorrow.", ", thanks"]), len(before)
    if kind == "csv":
        key = "ref" if negative else KEY[type_]
        head = f"name,{key},city\n" if rng.random() < 0.5 else ""
        before = f"{head}{name},"
        return before + value + f",{fake.city()}", len(before)
    if kind == "json":
        key = "ref" if negative else KEY[type_]
        before = json.dumps({"name": name}, ensure_ascii=False)[:-1] + f', "{key}": "'
        return before + value + f'", "city": {json.dumps(fake.city(), ensure_ascii=False)}}}', len(before)
    if kind == "signature":
        before = f"Best regards,\n{name}\n{fake.job()}\n{fake.company()}\n{LABEL[type_]} "
        return before + value, len(before)
    return value, 0  # bare


# ---- positives --------------------------------------------------------------------------

def _provider(fake: Faker, module: str) -> object:
    return next(p for p in fake.get_providers() if type(p).__module__.startswith(f"faker.providers.{module}"))


def phone_formats(fake: Faker) -> list[str]:
    p = _provider(fake, "phone_number")
    return list(getattr(p, "formats", ())) + list(getattr(p, "cellphone_formats", ()))


def positives(locale: str, n: int, seed: int) -> list[Sample]:
    fake = Faker(locale)
    fake.seed_instance(seed)
    rng = random.Random(f"{seed}-{locale}-pos")
    formats = phone_formats(fake)
    card_types = list(_provider(fake, "credit_card").credit_card_types)  # type: ignore[attr-defined]
    makers: dict[str, list[tuple[str, Callable[[int], str]]]] = {
        "email": [("email", lambda i: fake.email()), ("free_email", lambda i: fake.free_email()),
                  ("company_email", lambda i: fake.company_email())],
        "phone": [(f"phone:{fmt}", lambda i, fmt=fmt: fake.numerify(fake.parse(fmt))) for fmt in formats],  # type: ignore[misc]
        "credit_card": [(f"card:{t}", lambda i, t=t: fake.credit_card_number(t)) for t in card_types],  # type: ignore[misc]
        "iban": [("iban", lambda i: fake.iban())],
        "ip_address": [("ipv4", lambda i: fake.ipv4()), ("ipv4_private", lambda i: fake.ipv4_private()),
                       ("ipv4_public", lambda i: fake.ipv4_public()), ("ipv6", lambda i: fake.ipv6())],
    }
    if locale == "en_US":
        makers["us_ssn"] = [("ssn", lambda i: fake.ssn())]
    out: list[Sample] = []
    for type_, choices in makers.items():
        for i in range(n):
            fmt, make = choices[(i + rng.randrange(len(choices))) % len(choices)] if i >= len(choices) else choices[i]
            value = make(i)
            text, start = carrier(fake, rng, type_, value, negative=False)
            out.append(Sample(text, [(type_, start, start + len(value))], type_, locale, fmt, value))
    return out


def phone_valid(sample: Sample) -> bool:
    """Whether `phonenumbers` accepts the Faker value as a number of its locale's region."""
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(sample.value, REGION[sample.locale])))
    except phonenumbers.NumberParseException:
        return False


def value_valid(sample: Sample) -> bool:
    """Whether a Faker value is a real value of its type. Faker's phone formats are random digits
    (many fail `phonenumbers`, and en_GB's are Ofcom's drama ranges); its JCB prefix "35" spans
    3500-3599 where JCB is 3528-3589; its Maestro prefix "0604" is no card scheme; its en_IN
    `iban()` gives GB IBANs one character short (21, the registry says 22)."""
    if sample.type == "phone":
        return phone_valid(sample)
    if sample.type == "credit_card":
        if sample.fmt.startswith("card:jcb") and sample.value.startswith("35"):
            return 3528 <= int(sample.value[:4]) <= 3589
        return not sample.value.startswith("0")
    if sample.type == "iban":
        return len(sample.value) == IBAN_LENGTHS.get(sample.value[:2])
    return True


# ---- negatives --------------------------------------------------------------------------

def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i & 1 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _luhn_fail(fake: Faker) -> str:
    number = fake.credit_card_number()
    return number[:-1] + str((int(number[-1]) + fake.random_int(1, 9)) % 10)


def _card_length_non_luhn(fake: Faker) -> str:
    while True:
        digits = fake.numerify("%" + "#" * fake.random_int(12, 18))
        if not _luhn_ok(digits):
            return digits


def _iban_bad_check(fake: Faker) -> str:
    value = fake.iban()
    check = int(value[2:4])
    return f"{value[:2]}{(check + fake.random_int(1, 90)) % 97 + 2:02d}{value[4:]}"


def _national_id(fake: Faker) -> str | None:
    """The locale's own national ID (Faker's `ssn()`), when it is not the US SSN or its fallback."""
    module = type(_provider(fake, "ssn")).ssn.__module__  # type: ignore[attr-defined]
    return None if module in ("faker.providers.ssn", "faker.providers.ssn.en_US") else str(fake.ssn())


NEGATIVES: dict[str, Callable[[Faker], str | None]] = {
    "luhn_fail_card": _luhn_fail,
    "card_length_non_luhn": _card_length_non_luhn,
    "random_digits_6_20": lambda f: f.numerify("#" * f.random_int(6, 20)),
    "ean13": lambda f: f.ean13(),
    "ean8_upc": lambda f: f.ean8() if f.random_int(0, 1) else f.localized_ean13(),
    "isbn": lambda f: f.isbn13() if f.random_int(0, 1) else f.isbn10(),
    "bban": lambda f: f.bban(),
    "iban_bad_check": _iban_bad_check,
    "date": lambda f: f.date(pattern=f.random_element(["%Y-%m-%d", "%d/%m/%Y", "%m-%d-%Y", "%d.%m.%Y"])),
    "datetime": lambda f: f.random_element([f.iso8601(), f.date_time().strftime("%Y-%m-%d %H:%M:%S"),
                                            f.time(), str(f.unix_time())]),
    "user_agent_versions": lambda f: f.user_agent(),
    "version_number": lambda f: f.numerify(f.random_element(["v%.#.##", "%.##.#.###", "version %#.#.#"])),
    "msisdn": lambda f: f.msisdn(),
    "uuid": lambda f: f.uuid4(),
    "hex_hash": lambda f: f.random_element([f.md5(), f.sha1(), f.sha256()]),
    "mac_address": lambda f: f.mac_address(),
    "price": lambda f: f.pricetag(),
    "coordinates": lambda f: f"{f.latitude()}, {f.longitude()}",
    "address_postcode": lambda f: f.address().replace("\n", ", "),
    "national_id": _national_id,
}
ALLOWED = {"msisdn": frozenset({"phone"})}


def negatives(locale: str, n: int, seed: int) -> list[Sample]:
    fake = Faker(locale)
    fake.seed_instance(seed + 1)
    rng = random.Random(f"{seed}-{locale}-neg")
    out: list[Sample] = []
    for family, make in NEGATIVES.items():
        for _ in range(n):
            value = make(fake)
            if value is None:
                break
            text, _start = carrier(fake, rng, "", value, negative=True)
            out.append(Sample(text, [], family, locale, family, value, True, ALLOWED.get(family, frozenset())))
    return out


# ---- scoring ----------------------------------------------------------------------------

@dataclass
class Score:
    tp: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, group)
    fn: Counter[tuple[str, str]] = field(default_factory=Counter)
    fp: Counter[tuple[str, str]] = field(default_factory=Counter)
    tp_loc: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, locale)
    fn_loc: Counter[tuple[str, str]] = field(default_factory=Counter)
    valid: Counter[tuple[str, str, bool]] = field(default_factory=Counter)  # (type, group, hit) on valid values
    neg_texts: Counter[str] = field(default_factory=Counter)
    neg_hit_texts: Counter[str] = field(default_factory=Counter)
    neg_fp_types: dict[str, Counter[str]] = field(default_factory=dict)
    misses: list[Sample] = field(default_factory=list)
    false_positives: list[tuple[Sample, str, str]] = field(default_factory=list)


def score(samples: list[Sample]) -> Score:
    s = Score()
    for sample in samples:
        grp = group_of(sample.locale)
        pred = [(f.type, f.start, f.end) for f in ENGINE.evaluate_text(sample.text).findings if f.type in PII_TYPES]
        matched: set[int] = set()
        wrong: list[str] = []
        for t, ps, pe in pred:
            hit = next((i for i, (gt, gs, ge) in enumerate(sample.gold)
                        if gt == t and ps < ge and gs < pe and i not in matched), None)
            if hit is not None:
                matched.add(hit)
                s.tp[(t, grp)] += 1
                s.tp_loc[(t, sample.locale)] += 1
            elif t not in sample.allowed:
                s.fp[(t, grp)] += 1
                wrong.append(t)
                s.false_positives.append((sample, t, sample.text[ps:pe]))
        for i, (gt, _, _) in enumerate(sample.gold):
            if i not in matched:
                s.fn[(gt, grp)] += 1
                s.fn_loc[(gt, sample.locale)] += 1
                s.misses.append(sample)
            if gt in ("phone", "credit_card", "iban") and value_valid(sample):
                s.valid[(gt, grp, i in matched)] += 1
        if sample.negative:
            s.neg_texts[sample.type] += 1
            if wrong:
                s.neg_hit_texts[sample.type] += 1
                s.neg_fp_types.setdefault(sample.type, Counter()).update(wrong)
    return s


def build(n: int, seed: int) -> list[Sample]:
    samples: list[Sample] = []
    for i, locale in enumerate(DEFAULT_LOCALES + OTHER_LOCALES):
        samples += positives(locale, n, seed + 100 * i)
        samples += negatives(locale, max(1, n // 4), seed + 100 * i)
    return samples


def corpus_findings() -> tuple[int, Counter[str], Counter[str]]:
    """Benign corpus texts scanned, findings per type and texts with a finding per type."""
    texts, findings, with_finding = 0, Counter[str](), Counter[str]()
    for path in sorted(CORPUS.glob("*.jsonl")):
        for line in path.read_text().split("\n"):  # not splitlines: texts hold U+2028
            if not line:
                continue
            row = json.loads(line)
            if row.get("label") != 0:
                continue
            texts += 1
            types = [f.type for f in ENGINE.evaluate_text(row["text"]).findings if f.type in PII_TYPES]
            findings.update(types)
            with_finding.update(set(types))
    return texts, findings, with_finding


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "-"


def report(s: Score, corpus: tuple[int, Counter[str], Counter[str]] | None) -> None:
    print("| type | locales | gold | TP | FN | FP | recall | precision |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for t in PII_TYPES:
        for grp in ("default regions", "other locales", "all"):
            keys = [(t, g) for g in ("default regions", "other locales")] if grp == "all" else [(t, grp)]
            tp, fn, fp = (sum(c[k] for k in keys) for c in (s.tp, s.fn, s.fp))
            if tp + fn:
                print(f"| {t} | {grp} | {tp + fn} | {tp} | {fn} | {fp} | {_ratio(tp, tp + fn)} | {_ratio(tp, tp + fp)} |")
    for t in ("phone", "credit_card", "iban"):
        for grp in ("default regions", "other locales"):
            hit, miss = s.valid[(t, grp, True)], s.valid[(t, grp, False)]
            print(f"| {t}, real values only¹ | {grp} | {hit + miss} | {hit} | {miss} | | {_ratio(hit, hit + miss)} | |")
    print("\n¹ without the Faker values that are not real values of the type (see `value_valid`): phones"
          " `phonenumbers` rejects for the locale's region, JCB numbers outside 3528-3589, Maestro '0604',"
          " 21-character GB IBANs.\n")
    locales = DEFAULT_LOCALES + OTHER_LOCALES
    print("| recall by locale | " + " | ".join(locales) + " |")
    print("| --- |" + " ---: |" * len(locales))
    for t in PII_TYPES:
        cells = [_ratio(s.tp_loc[(t, loc)], s.tp_loc[(t, loc)] + s.fn_loc[(t, loc)]) for loc in locales]
        print(f"| {t} | " + " | ".join(cells) + " |")
    print("\n| negative family | texts | texts with a false positive | false positives by type |")
    print("| --- | ---: | ---: | --- |")
    for fam in NEGATIVES:
        fps = ", ".join(f"{t} {c}" for t, c in sorted(s.neg_fp_types.get(fam, Counter()).items()))
        print(f"| {fam} | {s.neg_texts[fam]} | {s.neg_hit_texts[fam]} | {fps} |")
    if corpus is not None:
        texts, findings, with_finding = corpus
        print(f"\nBenign corpus (data/injection/corpus, label 0): {texts} texts; findings per type: "
              + (", ".join(f"{t} {findings[t]} in {with_finding[t]} texts" for t in PII_TYPES if findings[t])
                 or "none"))


def main() -> None:
    parser = argparse.ArgumentParser(description="Score the PII scanner on Faker values.")
    parser.add_argument("--n", type=int, default=120, help="positives per type and locale (negatives: n/4)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--misses", type=int, default=0, help="print up to N misses and false positives per type")
    parser.add_argument("--no-corpus", action="store_true")
    args = parser.parse_args()
    s = score(build(args.n, args.seed))
    report(s, None if args.no_corpus else corpus_findings())
    if args.misses:
        shown: Counter[str] = Counter()
        for m in s.misses:
            if shown[m.type] < args.misses:
                shown[m.type] += 1
                print(f"MISS {m.type} {m.locale} {m.fmt!r}: {m.text!r}")
        shown.clear()
        for sample, t, span in s.false_positives:
            if shown[t] < args.misses:
                shown[t] += 1
                print(f"FP {t} in {sample.type} {sample.locale}: {span!r} in {sample.text!r}")


if __name__ == "__main__":
    main()
