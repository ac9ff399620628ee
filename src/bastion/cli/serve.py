"""`bastion serve`: run the gateway under uvicorn (httptools + uvloop), one process or N workers."""

from __future__ import annotations

import argparse
import errno
import math
import signal
import sys

from bastion.cli.watchdog import MIN_TIMEOUT, WORKER_TIMEOUT
from bastion.config.loader import ConfigError, export_config_path, load_config
from bastion.config.schema import BastionConfig
from bastion.core.secret import redacted_url


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the gateway")
    p.add_argument("--config", help="YAML config (default: built-in, providers from the environment)")
    p.add_argument("--host", help="listen address (overrides server.host)")
    p.add_argument("--port", type=_port, help="listen port, 0-65535 (overrides server.port)")
    p.add_argument("--workers", type=_workers, help="worker processes, at least 1 (overrides server.workers)")
    p.add_argument("--worker-timeout", type=float, default=None, metavar="SECONDS",
                   help="with --workers N on Linux: kill and restart a worker whose event loop has been silent "
                        f"this long (hung, deadlocked or stopped); 0 turns this off (overrides "
                        f"server.worker_timeout_seconds, default {WORKER_TIMEOUT:g})")
    p.add_argument("--quiet", action="store_true", help="do not print the start-up summary")
    p.set_defaults(func=serve)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0-65535; 0 = any free port)")
    return port


def _workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of workers: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: at least 1 worker")
    return n


def _summary(cfg_path: str | None, host: str, port: int, workers: int = 1) -> str:
    from bastion.config.loader import load_config as _load

    cfg = _load(cfg_path)
    lines = [f"Bastion {__import__('bastion').__version__} — config: {cfg_path or 'built-in default'}"]
    for name, p in cfg.providers.items():
        lines.append(f"  provider {name:<12} {p.kind:<18} {p.base_url}")
    for m in cfg.models:
        tgt = ", ".join(f"{t.provider}/{t.model}" for t in m.targets)
        lines.append(f"  model    {m.name:<24} -> {tgt}")
    lines.append(f"  store    {redacted_url(cfg.store.url)}")
    procs = f"{workers} worker processes" if workers > 1 else "one process"
    lines.append(f"Starting on http://{host}:{port} with {procs}  (OpenAI: http://{host}:{port}/v1 · Anthropic: "
                 f"http://{host}:{port}); GET /readyz answers 200 once it serves")
    cfg_flag = f" --config {cfg_path}" if cfg_path else ""
    lines.append(f"Create a key:  bastion keys create --name my-app{cfg_flag}")
    return "\n".join(lines)


def worker_problems(cfg: BastionConfig, workers: int) -> list[str]:
    """Why `workers` processes cannot serve `cfg` (empty when they can).

    Memory counters are per process: with several workers every limit and budget, including the
    per-key ones set later through the admin API, would be multiplied by the worker count. A fixed
    audit writer id would make the workers write one hash chain over each other.
    """
    if workers <= 1:
        return []
    problems = []
    if cfg.limits.backend == "memory":
        problems.append(f"{workers} workers (--workers or server.workers) with limits.backend: memory would multiply every rate limit and "
                        "budget (keys' included) by the number of workers; use limits.backend: redis")
    if cfg.audit.writer_id:
        problems.append(f"{workers} workers (--workers or server.workers) with audit.writer_id set would make the workers share one hash "
                        "chain; leave audit.writer_id unset (each worker then gets its own)")
    return problems


def _bind_problem(e: OSError) -> str:
    if e.errno == errno.EADDRINUSE:
        return "the address is already in use (another program listens there; stop it or choose another --port)"
    if e.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    return e.strerror or str(e)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bastion.app import validate_semantics

    try:
        cfg = load_config(args.config)
        problems = validate_semantics(cfg)
    except ConfigError as e:
        problems = e.errors
    if problems:
        print("bastion: the configuration is invalid:", file=sys.stderr)
        for line in problems:
            print(f"  - {line}", file=sys.stderr)
        return 2
    host = args.host or cfg.server.host
    port = args.port if args.port is not None else cfg.server.port
    workers = args.workers or cfg.server.workers
    refusals = worker_problems(cfg, workers)
    timeout = args.worker_timeout if args.worker_timeout is not None else cfg.server.worker_timeout_seconds
    if timeout != 0 and not (math.isfinite(timeout) and timeout >= MIN_TIMEOUT):
        refusals.append(f"--worker-timeout must be 0 (off) or at least {MIN_TIMEOUT:g} seconds, not "
                        f"{timeout:g} (workers stamp their heartbeat once a second)")
    if refusals:
        for problem in refusals:
            print(f"bastion: {problem}", file=sys.stderr)
        return 2
    from bastion.cli.workers import Supervisor, reserve_port, reuseport_available

    reuse_port = workers > 1 and reuseport_available()
    try:
        # held by the supervisor with --workers N; otherwise only a probe for a clear error
        reservation = reserve_port(host, port, shared=reuse_port)
    except OSError as e:
        print(f"bastion: cannot listen on {host}:{port}: {_bind_problem(e)}", file=sys.stderr)
        return 1
    if reuse_port:
        port = reservation.getsockname()[1]
    else:
        reservation.close()
    if not args.quiet:
        print(_summary(args.config, host, port, workers), flush=True)
    from bastion.observability.logging import setup_logging

    setup_logging(cfg.observability)
    from bastion.http.protocol import GuardedHttpToolsProtocol

    # proxy_headers=False: uvicorn would otherwise trust X-Forwarded-For from 127.0.0.1, letting a
    # local client pick the address the invalid-key throttle and the audit log see.
    common = dict(log_config=None, host=host, port=port, loop="uvloop", http=GuardedHttpToolsProtocol,
                  lifespan="on", access_log=False, proxy_headers=False,
                  log_level="warning", timeout_graceful_shutdown=max(1, math.ceil(cfg.server.shutdown_grace_seconds)),
                  server_header=False, date_header=False, h11_max_incomplete_event_size=64 * 1024)
    if reuse_port:  # workers > 1 on Linux: one SO_REUSEPORT socket per worker
        export_config_path(args.config)
        config = uvicorn.Config("bastion.app:app_from_environment", factory=True, **common)  # type: ignore[arg-type]
        try:
            return Supervisor(config, workers, worker_timeout=timeout).run()
        finally:
            reservation.close()
    # uvicorn drains in-flight requests on SIGTERM and then re-raises the signal to the previous
    # handler; a no-op handler here makes a graceful stop exit 0 (what supervisors expect).
    signal.signal(signal.SIGTERM, lambda *_: None)
    if workers > 1:  # no SO_REUSEPORT balancing here: uvicorn's workers share one listening socket
        export_config_path(args.config)
        uvicorn.run("bastion.app:app_from_environment", factory=True, workers=workers, **common)  # type: ignore[arg-type]
    else:
        from bastion.app import create_app

        uvicorn.run(create_app(cfg), **common)  # type: ignore[arg-type]
    return 0
