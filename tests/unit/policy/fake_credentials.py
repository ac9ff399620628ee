"""Deterministic fake credentials in each provider's format (random, never real)."""

from __future__ import annotations

import random
import string

_R = random.Random(20260301)
ALNUM = string.ascii_letters + string.digits


def rand(n: int, alphabet: str = ALNUM) -> str:
    while True:
        s = "".join(_R.choice(alphabet) for _ in range(n))
        if alphabet != ALNUM or (any(c.isdigit() for c in s) and any(c.islower() for c in s)
                                 and any(c.isupper() for c in s)):
            return s


HEX = "0123456789abcdef"
B32 = string.ascii_uppercase + "234567"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
       + rand(43, ALNUM + "-_"))

# type → (text with the credential, the credential itself, a look-alike that is not one)
SECRETS: dict[str, tuple[str, str, str]] = {}


def _add(type_: str, template: str, value: str, negative: str) -> None:
    SECRETS[type_] = (template.format(value), value, negative)


_add("openai_api_key", "use {} for the call", "sk-proj-" + rand(74) + "T3BlbkFJ" + rand(74),
     "install sk-learn and scikit-image; desk-lamp-model-2024-version-final-draft-x")
_add("anthropic_api_key", "ANTHROPIC_API_KEY={}", "sk-ant-api03-" + rand(93) + "AA", "the sk-ant-api03- prefix")
_add("aws_access_key_id", "aws id {} here", "AKIA" + rand(16, B32), "AKIAIOSFODNN7EXAMPLE and AKIA1234")
_add("aws_secret_access_key", "aws_secret_access_key = {}", rand(40, ALNUM + "/+"),
     "aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}")
_add("gcp_api_key", "key={}", "AIza" + rand(35, ALNUM + "-_"), "AIzaShort and AIRPLANE")
_add("gcp_service_account", '{{"type": "service_account", "private_key_id": "{}"}}', rand(40, HEX),
     '{"private_key_id": "abc"}')
_add("google_oauth_token", "token {}", "ya29." + rand(60, ALNUM + "-_"), "ya29 is a route")
_add("azure_storage_key", "DefaultEndpointsProtocol=https;AccountName=acme;{};EndpointSuffix=core.windows.net",
     "AccountKey=" + rand(86, ALNUM + "+/") + "==",
     "AccountKey=<your key>")
_add("azure_ad_client_secret", "client secret {}", rand(3) + "8Q~" + rand(34, ALNUM + "_~.-"), "Q~ is a prefix")
_add("github_token", "git clone https://{}@github.com/acme/x", "ghp_" + rand(36), "ghp_short and gh_token")
_add("gitlab_token", "GITLAB={}", "glpat-" + rand(20, ALNUM + "_-"), "glpat- alone and glpat-abc")
_add("slack_token", "slack {}", "xoxb-2417893014-" + rand(24), "xoxb-test and xoxo-hugs")
_add("slack_webhook", "post to {}",
     "https://hooks.slack.com/services/T0" + rand(8, B32) + "/B0" + rand(8, B32) + "/" + rand(24),
     "see https://hooks.slack.com/ for docs")
_add("stripe_api_key", "stripe.api_key = '{}'", "sk_live_" + rand(24), "sk_live_short and pk_live_public")
_add("twilio_api_key", "twilio sid {}", "SK" + rand(32, HEX), "SKU 12345 and SKILLS")
_add("twilio_auth_token", "TWILIO_AUTH_TOKEN={}", rand(32, HEX), "TWILIO_AUTH_TOKEN=your_auth_token")
_add("sendgrid_api_key", "SENDGRID={}", "SG." + rand(22, ALNUM + "-_") + "." + rand(43, ALNUM + "-_"),
     "SG.short.key and e.g. SG.1")
_add("huggingface_token", "HF_TOKEN={}", "hf_" + rand(34, string.ascii_letters), "hf_hub_download and hf_transfer")
_add("npm_token", "//registry.npmjs.org/:_authToken={}", "npm_" + rand(36), "npm_config_cache")
_add("pypi_token", "password = {}", "pypi-AgEIcHlwaS5vcmc" + rand(60, ALNUM + "-_"), "pypi-server")
_add("jwt", "Authorization: Bearer {}", JWT, "eyJustKidding.eyJoke.nope")
_add("private_key", "key:\n{}\nthanks",
     "-----BEGIN RSA PRIVATE KEY-----\nMIIEow" + rand(58, ALNUM + "+/") + "\n" + rand(64, ALNUM + "+/")
     + "\n-----END RSA PRIVATE KEY-----", "-----BEGIN PUBLIC KEY----- is public")
_add("connection_string", "DATABASE_URL={}/app", "postgres://app:" + rand(16) + "@db.internal:5432",
     "postgres://app@db.internal/app and postgres://user:${DB_PASSWORD}@db/app and postgres://u:password@h/d")
_add("bearer_token", "curl -H 'Authorization: Bearer {}'", rand(40), "Bearer token auth is described here")
_add("password", "login with password: {}", "Tr0ub4dor&3x", "password: ******** and password: <password>")
_add("generic_secret", 'API_TOKEN="{}"', rand(32), "the token count is 1500; secret = get_secret_value()")
