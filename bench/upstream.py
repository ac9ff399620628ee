"""The fast fake upstream: nginx serving pre-rendered OpenAI and Anthropic bodies (JSON and SSE).

Paths (the provider base URLs in the bench configs point at these prefixes):
  /v1/chat/completions, /v1/messages                 non-streamed JSON (`return 200`)
  /stream/v1/chat/completions, /stream/v1/messages   SSE, one write (flush) per event, no pause:
                                                     as a real provider sends tokens, at full speed
  /burst/v1/...                                      SSE, the whole stream in one write
  /paced/v1/...                                      SSE, one flush per event, PACE_MS between
  /long/v1/chat/completions                          SSE, 40 paced events (for streams cut by the client)
The first text delta of every stream is MARKER, so a client can time the first token.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

MARKER = "Bench"
# 16 text deltas, 87 characters: longer than the output policy's 64-character hold-back window,
# so a guarded stream releases text before its end, as it does with real answers.
WORDS = [MARKER, " says", " hello", " from", " the", " fake", " upstream;", " this", " reply", " is", " long",
         " enough", " to", " leave", " the", " window."]
PACE_MS = 2
ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
CREATED = 1764300000


def openai_json() -> bytes:
    return json.dumps({
        "id": "chatcmpl-bench0000000000000000", "object": "chat.completion", "created": CREATED,
        "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(WORDS) * 4,
                                             "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 260, "completion_tokens": 36, "total_tokens": 296,
                  "prompt_tokens_details": {"cached_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0}},
    }, separators=(",", ":")).encode()


def openai_events(words: list[str]) -> list[bytes]:
    base = {"id": "chatcmpl-bench0000000000000000", "object": "chat.completion.chunk", "created": CREATED,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_bench"}

    def ev(choices: list[object], usage: object = None, with_usage: bool = False) -> bytes:
        obj = {**base, "choices": choices}
        if with_usage:
            obj["usage"] = usage
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

    out = [ev([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    out += [ev([{"index": 0, "delta": {"content": w}, "finish_reason": None}]) for w in words]
    out.append(ev([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    out.append(ev([], {"prompt_tokens": 260, "completion_tokens": len(words), "total_tokens": 260 + len(words)},
                  with_usage=True))
    out.append(b"data: [DONE]\n\n")
    return out


def anthropic_json() -> bytes:
    return json.dumps({
        "id": "msg_bench000000000000000000", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929", "content": [{"type": "text", "text": "".join(WORDS) * 4}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 260, "output_tokens": 36, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0},
    }, separators=(",", ":")).encode()


def anthropic_events(words: list[str]) -> list[bytes]:
    def ev(name: str, obj: object) -> bytes:
        return f"event: {name}\ndata: ".encode() + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

    out = [ev("message_start", {"type": "message_start", "message": {
        "id": "msg_bench000000000000000000", "type": "message", "role": "assistant", "content": [],
        "model": "claude-sonnet-4-5-20250929", "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 260, "output_tokens": 1}}}),
        ev("content_block_start", {"type": "content_block_start", "index": 0,
                                   "content_block": {"type": "text", "text": ""}}),
        ev("ping", {"type": "ping"})]
    out += [ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": w}}) for w in words]
    out.append(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
    out.append(ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                       "stop_sequence": None},
                                    "usage": {"output_tokens": len(words)}}))
    out.append(ev("message_stop", {"type": "message_stop"}))
    return out


def _q(body: bytes) -> str:
    """An nginx single-quoted string literal holding `body` (JSON has no single quotes here)."""
    text = body.decode()
    assert "'" not in text and "\\" not in text
    return "'" + text + "'"


def _instant(path: str, ctype: str, body: bytes) -> str:
    return f"    location = {path} {{ default_type {ctype}; return 200 {_q(body)}; }}\n"


def _paced(path: str, events: list[bytes], pace_ms: float | None = PACE_MS) -> str:
    """One echo per event; pace_ms None: no flushes, output postponed to the end (one write)."""
    lines = [f"    location = {path} {{\n      default_type text/event-stream;\n"]
    if pace_ms is None:
        lines.append("      postpone_output 65536;\n")
    for i, e in enumerate(events):
        if i and pace_ms:
            lines.append(f"      echo_sleep {pace_ms / 1000:.3f};\n")
        lines.append(f"      echo -n {_q(e)};\n" + ("      echo_flush;\n" if pace_ms is not None else ""))
    lines.append("    }\n")
    return "".join(lines)


def nginx_conf(prefix: Path, port: int) -> str:
    oa_stream, an_stream = openai_events(WORDS), anthropic_events(WORDS)
    locations = "".join([
        _instant("/v1/chat/completions", "application/json", openai_json()),
        _instant("/v1/messages", "application/json", anthropic_json()),
        _paced("/stream/v1/chat/completions", oa_stream, 0),
        _paced("/stream/v1/messages", an_stream, 0),
        _paced("/burst/v1/chat/completions", oa_stream, None),
        _paced("/burst/v1/messages", an_stream, None),
        _paced("/paced/v1/chat/completions", oa_stream),
        _paced("/paced/v1/messages", an_stream),
        _paced("/long/v1/chat/completions", openai_events(WORDS * 5)),
    ])
    return f"""load_module {ECHO_MODULE};
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; multi_accept on; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_buffer_size 64k;
  client_max_body_size 1m;
  tcp_nodelay on;
  server_tokens off;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location = /healthz {{ return 200 'ok'; }}
{locations}  }}
}}
"""


class FakeUpstream:
    """nginx on one core; start() blocks until it answers."""

    def __init__(self, prefix: Path, port: int, core: int, priority: list[str] | None = None) -> None:
        self.prefix, self.port, self.core = prefix, port, core
        self.priority = priority or []
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> FakeUpstream:
        self.prefix.mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(nginx_conf(self.prefix, self.port))
        log = open(self.prefix / "nginx.out", "ab")
        self.proc = subprocess.Popen(
            [*self.priority, "taskset", "-c", str(self.core), "nginx", "-p", str(self.prefix), "-c", str(conf),
             "-g", "daemon off;"], stdout=log, stderr=subprocess.STDOUT)
        wait_http(f"{self.url}/healthz", self.proc, what="nginx")
        return self

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in kids.read_text().split()] if kids.exists() else []

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s")
