"""Generates data/pii_eval/labeled.jsonl: a labeled set for the PII and secrets scanners.

Each line: {"text": ..., "labels": [{"type", "start", "end"}], "kind": "positive" | "hard_negative",
"family": ...}. Positives put validated values (Luhn cards, mod-97 IBANs, SSA-valid SSNs,
numbers `phonenumbers` accepts, fake credentials in each provider's format) into varied
sentences; hard negatives are look-alikes that must not be reported (order numbers,
timestamps, versions, UUIDs, digits failing Luhn or mod-97, invalid SSN areas, hashes,
placeholders). Deterministic: `python data/pii_eval/generate.py` rewrites the same file.
Everything is synthetic; no value belongs to anyone.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import uuid
from collections.abc import Callable
from pathlib import Path

import phonenumbers

R = random.Random(3)
ALNUM = string.ascii_letters + string.digits
OUT = Path(__file__).with_name("labeled.jsonl")


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(R.choice(alphabet) for _ in range(n))


def mixed(n: int, alphabet: str = ALNUM) -> str:
    while True:
        s = rand(n, alphabet)
        digit = any(c.isdigit() for c in s) or not any(c.isdigit() for c in alphabet)
        if digit and any(c.islower() for c in s) and any(c.isupper() for c in s):
            return s


# ---- PII values ------------------------------------------------------------------------

FIRST = ["jane", "john", "maria", "wei", "amit", "olga", "sam", "lea", "omar", "yuki", "ana", "lars"]
LAST = ["doe", "smith", "garcia", "chen", "patel", "ivanova", "kim", "muller", "haddad", "sato"]
DOMAINS = ["example.com", "corp.example.org", "mail.co.uk", "uni-berlin.de", "startup.io", "gov.example.us",
           "shop.example.fr", "xn--bcher-kva.example"]


def email() -> str:
    local = R.choice([f"{R.choice(FIRST)}.{R.choice(LAST)}", f"{R.choice(FIRST)}{R.randint(1, 99)}",
                      f"{R.choice(FIRST)}+{R.choice(['news', 'work', 'x'])}", f"{R.choice(FIRST)[0]}_{R.choice(LAST)}"])
    value = f"{local}@{R.choice(DOMAINS)}"
    return value.upper() if R.random() < 0.1 else value


def phone() -> str:
    while True:
        kind = R.choice(["us", "us", "us_intl", "gb", "de", "fr", "in", "intl_de"])
        if kind.startswith("us"):
            area, exch, line = R.randint(201, 989), R.randint(200, 989), R.randint(0, 9999)
            fmt = R.choice(["({a}) {e}-{l:04d}", "{a}-{e}-{l:04d}", "{a}.{e}.{l:04d}", "{a} {e} {l:04d}"])
            text = fmt.format(a=area, e=exch, l=line)
            if kind == "us_intl":
                text = "+1 " + text.replace("(", "").replace(")", "")
            region = "US"
        else:
            region = {"gb": "GB", "de": "DE", "fr": "FR", "in": "IN", "intl_de": "DE"}[kind]
            example = phonenumbers.example_number_for_type(region, R.choice(
                [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE]))
            assert example is not None
            national = str(example.national_number)
            digits = national[:-4] + "".join(R.choice(string.digits) for _ in range(4))
            number = phonenumbers.parse(digits, region)
            fmt = (phonenumbers.PhoneNumberFormat.INTERNATIONAL if kind in ("intl_de", "in")
                   else phonenumbers.PhoneNumberFormat.NATIONAL)
            text = phonenumbers.format_number(number, fmt)
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(text, region)):
                return text
        except phonenumbers.NumberParseException:
            pass


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(R.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for d in string.digits:
        cand = body + d
        total = 0
        for i, ch in enumerate(reversed(cand)):
            v = int(ch) * (2 if i % 2 else 1)
            total += v - 9 if v > 9 else v
        if total % 10 == 0:
            return cand
    raise AssertionError


CARD_KINDS = [("4", 16), ("4", 19), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15),
              ("37", 15), ("6011", 16), ("65", 16), ("3530", 16), ("3589", 19), ("2131", 15), ("6759", 12),
              ("6761", 19), ("5018", 16), ("36", 14), ("62", 16)]


def group(number: str, sizes: list[int], sep: str) -> str:
    out, i = [], 0
    for s in sizes:
        out.append(number[i:i + s])
        i += s
    if i < len(number):
        out.append(number[i:])
    return sep.join(p for p in out if p)


def card() -> str:
    prefix, length = R.choice(CARD_KINDS)
    number = luhn_complete(prefix, length)
    style = R.choice(["plain", "space", "dash"])
    if style == "plain":
        return number
    sizes = [4, 6, 5] if length == 15 and prefix in ("34", "37") else [4] * 5
    return group(number, sizes, " " if style == "space" else "-")


IBAN_COUNTRIES = {"DE": "8n10n", "GB": "4a14n", "FR": "10n11c2n", "ES": "20n", "IT": "1a10n12c", "NL": "4a10n",
                  "BE": "12n", "CH": "5n12c", "PL": "24n", "SE": "20n", "AT": "16n", "IE": "4a14n", "NO": "11n"}


def bban(spec: str) -> str:
    out, num = [], ""
    for ch in spec:
        if ch.isdigit():
            num += ch
            continue
        n = int(num)
        num = ""
        alphabet = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}[ch]
        out.append(rand(n, alphabet))
    return "".join(out)


def mod97(s: str) -> int:
    return int("".join(str(int(c, 36)) for c in s)) % 97


def iban(valid: bool = True) -> str:
    country = R.choice(list(IBAN_COUNTRIES))
    b = bban(IBAN_COUNTRIES[country])
    check = 98 - mod97(b + country + "00")
    if not valid:
        check = (check + R.randint(1, 96)) % 97 or 1
        check = 98 - mod97(b + country + "00") + 1 if check == 98 - mod97(b + country + "00") else check
    value = f"{country}{check:02d}{b}"
    return group(value, [4] * 9, " ") if R.random() < 0.5 else value


def ssn(valid: bool = True) -> str:
    if valid:
        area = R.choice([a for a in range(1, 900) if a != 666])
        grp, serial = R.randint(1, 99), R.randint(1, 9999)
    else:
        area, grp, serial = R.choice([(0, R.randint(1, 99), R.randint(1, 9999)), (666, 12, 3456),
                                      (R.randint(900, 999), 45, 6789), (123, 0, 4567), (321, 54, 0)])
    return f"{area:03d}-{grp:02d}-{serial:04d}"


def ip() -> str:
    if R.random() < 0.6:
        return ".".join(str(R.randint(1, 254)) for _ in range(4))
    groups = [f"{R.randint(0, 65535):x}" for _ in range(8)]
    if R.random() < 0.6:
        return f"2001:db8:{groups[2]}::{groups[7]}"
    return ":".join(groups)


# ---- credentials -----------------------------------------------------------------------

SECRET_MAKERS: dict[str, Callable[[], str]] = {
    "openai_api_key": lambda: "sk-proj-" + mixed(58) + "T3BlbkFJ" + mixed(58),
    "anthropic_api_key": lambda: "sk-ant-api03-" + mixed(93, ALNUM + "-_") + "AA",
    "aws_access_key_id": lambda: "AKIA" + rand(16, string.ascii_uppercase + "234567"),
    "gcp_api_key": lambda: "AIza" + mixed(35, ALNUM + "-_"),
    "github_token": lambda: R.choice(["ghp_", "gho_", "ghs_"]) + mixed(36),
    "gitlab_token": lambda: "glpat-" + mixed(20),
    "slack_token": lambda: "xoxb-" + rand(12, string.digits) + "-" + mixed(24),
    "stripe_api_key": lambda: R.choice(["sk_live_", "rk_live_"]) + mixed(24),
    "sendgrid_api_key": lambda: "SG." + mixed(22) + "." + mixed(43),
    "huggingface_token": lambda: "hf_" + mixed(34, string.ascii_letters),
    "jwt": lambda: ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI" + rand(10, string.digits) + "In0."
                    + mixed(43, ALNUM + "-_")),
    "connection_string": lambda: (R.choice(["postgres", "postgresql", "mysql", "mongodb+srv", "redis", "amqp"])
                                  + f"://{R.choice(FIRST)}:{mixed(14)}@db{R.randint(1, 9)}.internal.example:5432"),
    "private_key": lambda: ("-----BEGIN " + R.choice(["RSA ", "EC ", "", "OPENSSH "]) + "PRIVATE KEY-----\n"
                            + "\n".join(mixed(64, ALNUM + "+/") for _ in range(4)) + "\n-----END PRIVATE KEY-----"),
}

SECRET_CONTEXTS = ["export TOKEN={}", "my key is {} please keep it safe", "config = {{'key': '{}'}}",
                   "Here is the credential: {}\nUse it for the deploy.", "{}", "curl -H 'X-Key: {}' https://api"]
PII_CONTEXTS = {
    "email": ["Contact: {}", "email me at {} when done", "From: Jane <{}>", "send the invoice to {}.",
              "Reach our team ({}) anytime", "cc {}, thanks"],
    "phone": ["Call me at {}", "Phone: {}", "my mobile is {} after 6pm", "Tel. {}", "reach the desk on {}.",
              "Contact number: {}", "please phone {} tomorrow"],
    "credit_card": ["card number {} exp 12/28", "Pay with {} please", "CC: {}", "my visa is {}.",
                    "charge {} for the order", "{}"],
    "iban": ["IBAN: {}", "wire it to {} by Friday", "Account {} (Sparkasse)", "please pay into {}."],
    "us_ssn": ["SSN: {}", "my social security number is {}", "SSN# {} on the W-2", "Soc. Sec. {}",
               "taxpayer id {}"],
    "ip_address": ["server at {} is down", "ssh admin@{}", "login from IP {} flagged", "bind {} port 8080",
                   "the host {} answered"],
}
MAKERS: dict[str, Callable[[], str]] = {"email": email, "phone": phone, "credit_card": card, "iban": iban,
                                        "us_ssn": ssn, "ip_address": ip}

HARD_NEGATIVES: dict[str, Callable[[], str]] = {
    "order_number": lambda: f"Order #{R.randint(10**9, 10**10 - 1)} shipped on {R.randint(1, 28)} May",
    "invoice_dashed": lambda: f"invoice no. {R.randint(200, 999)}-{R.randint(200, 999)}-{R.randint(1000, 9999)}",
    "timestamp": lambda: f"at 2024-{R.randint(1, 12):02d}-{R.randint(1, 28):02d} {R.randint(0, 23):02d}:"
                         f"{R.randint(0, 59):02d}:{R.randint(0, 59):02d} UTC",
    "epoch": lambda: f"created={R.randint(1_600_000_000, 1_800_000_000)}",
    "version": lambda: f"upgraded to version {R.randint(1, 20)}.{R.randint(0, 30)}.{R.randint(0, 99)}.{R.randint(0, 9)}",
    "semver": lambda: f"v{R.randint(0, 9)}.{R.randint(0, 99)}.{R.randint(0, 99)}",
    "uuid": lambda: f"request id {uuid.UUID(int=R.getrandbits(128))}",
    "luhn_fail": lambda: _luhn_fail(),
    "iban_bad_checksum": lambda: f"IBAN {iban(valid=False)}",
    "ssn_invalid": lambda: f"SSN: {ssn(valid=False)}",
    "git_sha": lambda: f"commit {rand(40, '0123456789abcdef')} fixed the build",
    "sha256": lambda: f"sha256:{rand(64, '0123456789abcdef')}",
    "isbn": lambda: f"ISBN 978-{R.randint(0, 9)}-{R.randint(10, 99)}-{R.randint(100000, 999999)}-{R.randint(0, 9)}",
    "zip4": lambda: f"ZIP {R.randint(10000, 99999)}-{R.randint(1000, 9999)}",
    "price": lambda: f"total ${R.randint(1, 99)},{R.randint(100, 999)}.{R.randint(10, 99)}",
    "coordinates": lambda: f"at {R.uniform(-90, 90):.6f}, {R.uniform(-180, 180):.6f}",
    "placeholder_creds": lambda: R.choice(["password: <your password>", "api_key = os.environ['API_KEY']",
                                           "postgres://user@localhost/db", "token: ${GITHUB_TOKEN}",
                                           "AWS_SECRET_ACCESS_KEY=your-secret-here", "sk-learn and scikit"]),
    "prose_keywords": lambda: R.choice(["The token count was 4096 and the secret sauce is patience.",
                                        "Reset your password at the login page.",
                                        "The API key rotation policy is 90 days."]),
    "file_names": lambda: f"see icon@{R.randint(2, 3)}x.png and logo@2x.svg",
    "cpp_scope": lambda: "std::vector<int>::iterator it = v.begin(); a::b::c",
    "clock_times": lambda: f"between {R.randint(0, 23):02d}:{R.randint(0, 59):02d} and "
                           f"{R.randint(0, 23):02d}:{R.randint(0, 59):02d}",
    "math": lambda: f"pi is about 3.{rand(14, string.digits)}",
}


def _luhn_fail() -> str:
    while True:
        n = luhn_complete("4", 16)
        bad = n[:-1] + str((int(n[-1]) + R.randint(1, 9)) % 10)
        return f"ref {group(bad, [4, 4, 4, 4], ' ')}"


def positive(type_: str, value: str, contexts: list[str]) -> dict[str, object]:
    template = R.choice(contexts)
    before, after = template.split("{}", 1) if "{}" in template else (template, "")
    before, after = before.replace("{{", "{").replace("}}", "}"), after.replace("{{", "{").replace("}}", "}")
    filler = R.choice(["", "Hi team. ", "Quick question: ", "FYI — "])
    start = len(filler) + len(before)
    return {"text": filler + before + value + after, "labels": [{"type": type_, "start": start,
                                                                 "end": start + len(value)}]}


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate the labeled PII/secrets set.")
    parser.add_argument("--seed", type=int, default=3, help="3 = the committed labeled.jsonl")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    R.seed(args.seed)
    rows: list[dict[str, object]] = []
    for type_, make in MAKERS.items():
        for _ in range(150):
            rows.append({**positive(type_, make(), PII_CONTEXTS[type_]), "kind": "positive", "family": type_})
    for type_, make in SECRET_MAKERS.items():
        for _ in range(25):
            rows.append({**positive(type_, make(), SECRET_CONTEXTS), "kind": "positive", "family": type_})
    for family, make in HARD_NEGATIVES.items():
        for _ in range(40):
            rows.append({"text": make(), "labels": [], "kind": "hard_negative", "family": family})
    R.shuffle(rows)
    with args.out.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} examples to {args.out}")


if __name__ == "__main__":
    main()
