"""Request bodies of the bench: a realistic benign prompt (no PII, no secrets) of a chosen length."""

from __future__ import annotations

import json
from pathlib import Path

SYSTEM = "You are a concise assistant for an internal engineering team. Answer in plain English."
PROSE = (
    "Our team is planning the migration of a reporting service from a nightly batch job to a streaming "
    "pipeline. The current job reads the previous day's orders from the warehouse, joins them with the "
    "product catalogue, computes revenue per region and category, and writes the totals into a dashboard "
    "table that managers read every morning. It takes about forty minutes and fails a few times a month "
    "when the catalogue export is late. The new design would consume order events from a queue, keep "
    "running totals in memory with periodic checkpoints, and update the dashboard every minute. We are "
    "unsure how to handle late events, corrections to orders that were already counted, and schema changes "
    "in the catalogue. We also need to keep the old job running in parallel for a few weeks so finance can "
    "compare the numbers. Please outline the main risks of this migration, suggest how to structure the "
    "rollout in small steps, explain how to reconcile the two outputs during the parallel run, and list "
    "the metrics we should watch to decide when the old job can be retired. Keep the answer short and "
    "practical, with a numbered list of steps and one paragraph on testing strategy for the new pipeline."
).split()


def prompt(words: int) -> str:
    out: list[str] = []
    while len(out) < words:
        out.extend(PROSE)
    return " ".join(out[:words])


def openai_body(model: str, text: str, stream: bool) -> bytes:
    body: dict[str, object] = {"model": model, "max_tokens": 256, "temperature": 0.2,
                               "messages": [{"role": "system", "content": SYSTEM},
                                            {"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


def anthropic_body(model: str, text: str, stream: bool) -> bytes:
    body: dict[str, object] = {"model": model, "max_tokens": 256, "temperature": 0.2, "system": SYSTEM,
                               "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


UNIQUE = "@@N@@"  # replaced per request by the load generators (wrk/post.lua, streams.py)


def write_bodies(out: Path, words: int, unique: bool = True) -> None:
    """Bodies for every cell; with `unique`, the user prompt opens with a per-request marker, so no
    two requests carry the same text (a gateway's scan cache cannot answer for the scanners)."""
    text = (f"Ticket {UNIQUE}: " if unique else "") + prompt(words)
    secret = text + " The deploy token is ghp_" + "Zq8Lm3Xv7Rt2Wn5Kp9Bd4Hs6Jf1Gc0Ya8Ue3" + " if that helps."
    files = {
        "openai.json": openai_body("gpt-4o-mini", text, False),
        "openai_stream.json": openai_body("bench-stream", text, True),
        "openai_burst.json": openai_body("bench-burst", text, True),
        "openai_paced.json": openai_body("bench-paced", text, True),
        "openai_long.json": openai_body("bench-long", text, True),
        "openai_secret.json": openai_body("gpt-4o-mini", secret, False),
        "anthropic.json": anthropic_body("claude-sonnet-4-5", text, False),
        "anthropic_stream.json": anthropic_body("bench-claude-stream", text, True),
        "anthropic_paced.json": anthropic_body("bench-claude-paced", text, True),
    }
    for name, data in files.items():
        (out / name).write_bytes(data)
