"""Instructions per stream of the streamed output guard alone, counted by valgrind around its calls.

Usage: .venv/bin/python bench/icount_guard.py [--src DIR ...] [--streams 200]

For each source tree (default: this checkout's src/), runs this script under `valgrind --tool=callgrind
--instr-atstart=no`. Uninstrumented, it builds the app on the `full` bench profile (as
`bench_gateway_overhead.py`: default policy, the fake upstream's 20-event OpenAI stream) and serves one
streamed request in one upstream read and one paced (one read per event), recording the bursts the
guard's per-stream object (`OutputGuard.burst_filter`) took and the request's context. Then each
recorded stream is replayed `--streams` times between callgrind client requests (zero the counters,
replay, dump): per stream, `burst_filter(ctx)`, one `burst` call per recorded burst and `finish`, as
`pipeline/runner.py framed` calls them. What the replays released is printed as a digest, which must
be the same for every tree. `bench/icount.py --stream` counts whole streams instead. Needs valgrind with
its headers and a C compiler (the client requests are macros, compiled into a small helper library).
The hash seed is fixed (PYTHONHASHSEED=0).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import hashlib
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from icount_scan import build_helper, counted

ROOT = Path(__file__).resolve().parent.parent
MODES = ("one-read", "paced")


async def _record() -> dict[str, tuple[Any, Any, list[list[Any]]]]:
    """Per mode: (the guard, the request's context, the bursts its per-stream object took)."""
    import bench_gateway_overhead as gwb
    import profiles
    from bodies import SYSTEM, prompt
    from upstream import WORDS, openai_events

    from bastion.app import create_app
    from bastion.config.schema import BastionConfig
    from bastion.observability.logging import setup_logging
    from bastion.policy import guard as guard_mod

    tmp = Path(tempfile.mkdtemp(prefix="icount-guard-"))
    cfg, _ = profiles.fit("full", "http://127.0.0.1:9", tmp / "bastion.db")
    config = BastionConfig.model_validate(cfg)
    log_file = (tmp / "bastion.log").open("w")
    setup_logging(config.observability, stream=log_file)
    gwb._no_injection()
    app = create_app(config)
    gw = app.gateway  # type: ignore[attr-defined]
    gw.transport.post_stream = gwb._post_stream
    gwb._StreamedAnswer.events = openai_events(WORDS)
    await gw.startup()
    admin = [(b"authorization", b"Bearer " + profiles.ADMIN_KEY.encode()), (b"content-type", b"application/json")]
    status, body = await gwb._call(app, "POST", "/admin/keys",
                                   json.dumps({"name": "bench", **profiles.FULL_KEY_FIELDS}).encode(), admin)
    assert status == 201, (status, body)
    headers = [(b"authorization", f"Bearer {json.loads(body)['key']}".encode()),
               (b"content-type", b"application/json")]
    seen: list[tuple[Any, Any, list[Any]]] = []
    taken = guard_mod._Streamed.burst

    def burst(self: Any, events: list[Any], out: list[Any]) -> None:
        if not seen or seen[-1][1] is not self.ctx:
            seen.append((self.guard, self.ctx, []))
        seen[-1][2].append(list(events))
        taken(self, events, out)

    guard_mod._Streamed.burst = burst  # type: ignore[method-assign]
    got: dict[str, tuple[Any, Any, list[list[Any]]]] = {}
    for i, mode in enumerate(MODES):
        gwb._StreamedAnswer.one_read = mode == "one-read"
        body = json.dumps({"model": "gpt-4o-mini", "max_tokens": 256, "temperature": 0.2, "stream": True,
                           "messages": [{"role": "system", "content": SYSTEM},
                                        {"role": "user", "content": f"Ticket guard-{i}: {prompt(200)}"}]}).encode()
        seen.clear()
        status, out = await gwb._call(app, "POST", "/v1/chat/completions", body, headers)
        assert status == 200 and out.endswith(b"data: [DONE]\n\n"), out[-300:]
        assert len(seen) == 1, len(seen)
        got[mode] = seen[0]
    guard_mod._Streamed.burst = taken  # type: ignore[method-assign]
    await gwb._drain(gw)
    await gw.shutdown()
    log_file.close()
    return got


def _replay(guard: Any, ctx: Any, copies: list[list[list[Any]]]) -> list[list[Any]]:
    """Each stream's bursts through a new per-stream object; what each released."""
    released = []
    for bursts in copies:
        streamed = guard.burst_filter(ctx)
        out: list[Any] = []
        for b in bursts:
            streamed.burst(b, out)
        streamed.finish(out)
        released.append(out)
    return released


def child(helper: str, streams: int) -> None:
    """Under valgrind: record the streams, then replay each mode between zero and dump requests."""
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    got = asyncio.run(_record())
    cg = ctypes.CDLL(helper)
    cg.cg_start()
    for mode in MODES:
        guard, ctx, bursts = got[mode]
        _replay(guard, ctx, [[list(b) for b in bursts] for _ in range(20)])  # warm-up
        copies = [[list(b) for b in bursts] for _ in range(streams)]
        cg.cg_zero()
        released = _replay(guard, ctx, copies)
        cg.cg_dump(f"{mode} {streams}".encode())
        digest = hashlib.sha256(repr(released[-1]).encode()).hexdigest()[:16]
        sizes = "/".join(str(len(b)) for b in bursts)
        print(f"{mode}: bursts {sizes}, released {len(released[-1])} events, digest {digest}", file=sys.stderr)


def count(src: Path, helper: str, streams: int) -> tuple[dict[str, int], list[str]]:
    """Instructions per stream of each mode with the tree at `src`, and the replays' digests."""
    got, stderr = counted(src, [str(Path(__file__).resolve()), "--child", helper, "--streams", str(streams)],
                          list(MODES))
    return got, [line for line in stderr.splitlines() if "digest" in line]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", action="append", type=Path, help="a source tree (its src/ directory); repeatable")
    parser.add_argument("--streams", type=int, default=200, help="replays counted per mode")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # (the run under valgrind: the helper's path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.streams)
        return
    with tempfile.TemporaryDirectory(prefix="icount-guard-helper-") as tmp:
        helper = build_helper(tmp)
        for src in args.src or [ROOT / "src"]:
            if not (src / "bastion").is_dir():
                raise SystemExit(f"--src {src}: no bastion package there (give a tree's src/ directory)")
            got, digests = count(src, helper, args.streams)
            print(f"{src}: " + ", ".join(f"{m} {got[m]:,}" for m in MODES) + " instructions per stream", flush=True)
            for line in digests:
                print(f"  {line}", flush=True)


if __name__ == "__main__":
    main()
