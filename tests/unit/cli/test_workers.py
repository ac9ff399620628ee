"""The port reservation behind `serve --workers N` and how serve hands the workers its uvicorn options."""

from __future__ import annotations

import errno
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bastion.cli.workers as workers_mod
from bastion.cli.main import main
from bastion.cli.workers import Supervisor, reserve_port, reuseport_available
from bastion.http.protocol import GuardedHttpToolsProtocol

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing is Linux's")


def _sock(*, reuseaddr: bool = False, reuseport: bool = False) -> socket.socket:
    s = socket.socket()
    if reuseaddr:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return s


@linux_only
def test_the_reservation_keeps_other_programs_off_the_port_but_lets_workers_in() -> None:
    assert reuseport_available()
    with reserve_port("127.0.0.1", 0, shared=True) as held:
        port = held.getsockname()[1]
        for other in (_sock(), _sock(reuseaddr=True)):  # even between worker restarts, no listener there
            with other, pytest.raises(OSError) as e:
                other.bind(("127.0.0.1", port))
            assert e.value.errno == errno.EADDRINUSE
        with pytest.raises(ConnectionRefusedError):  # it never listens: no connection can queue on it
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        with _sock(reuseaddr=True, reuseport=True) as worker, _sock(reuseaddr=True, reuseport=True) as worker2:
            worker.bind(("127.0.0.1", port))
            worker.listen()
            worker2.bind(("127.0.0.1", port))
            worker2.listen()
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


@linux_only
@pytest.mark.parametrize("reuseport", [False, True])
def test_the_reservation_fails_when_a_program_listens_even_one_using_so_reuseport(reuseport: bool) -> None:
    with _sock(reuseport=reuseport) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(OSError) as e:
            reserve_port("127.0.0.1", other.getsockname()[1], shared=True)
        assert e.value.errno == errno.EADDRINUSE


# ---- serve wiring (no process is started) ------------------------------------------------------
@pytest.fixture
def serve_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A valid multi-worker config; serve's process-wide side effects undone afterwards."""
    monkeypatch.setattr("bastion.observability.logging.setup_logging", lambda *_: None)
    monkeypatch.setenv("BASTION_CONFIG", "unset-after-the-test")  # export_config_path writes it
    path = tmp_path / "bastion.yaml"
    path.write_text("server: {admin_key: adm_test_0123456789abcdef0123456789}\n"
                    f"store: {{url: 'sqlite:///{tmp_path / 'b.db'}'}}\nlimits: {{backend: redis}}\n")
    old = signal.getsignal(signal.SIGTERM)
    yield path
    signal.signal(signal.SIGTERM, old)


@linux_only
def test_workers_get_the_gateway_uvicorn_options_and_the_reserved_port(serve_env: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def run(self: Supervisor) -> int:
        seen.update(config=self.config, workers=self.workers)
        with _sock(reuseaddr=True) as other, pytest.raises(OSError):  # the port is held while it runs
            other.bind(("127.0.0.1", self.config.port))
        return 0

    monkeypatch.setattr(Supervisor, "run", run)
    assert main(["serve", "--config", str(serve_env), "--port", "0", "--workers", "3", "--quiet"]) == 0
    config = seen["config"]
    assert seen["workers"] == 3 and config.port != 0  # port 0 resolved once, shared by every worker
    assert (config.app, config.factory) == ("bastion.app:app_from_environment", True)
    assert config.http is GuardedHttpToolsProtocol and config.loop == "uvloop" and config.lifespan == "on"
    # security: X-Forwarded-For from 127.0.0.1 must not pick the client address the throttle and audit see
    assert config.proxy_headers is False
    assert config.server_header is False and config.access_log is False
    assert config.timeout_graceful_shutdown == 30


def test_without_so_reuseport_serve_falls_back_to_uvicorns_shared_socket(serve_env: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(workers_mod, "reuseport_available", lambda: False)
    monkeypatch.setattr(Supervisor, "run", lambda self: pytest.fail("the supervisor ran"))
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: calls.append((app, kw)))
    assert main(["serve", "--config", str(serve_env), "--port", "0", "--workers", "2", "--quiet"]) == 0
    [(app, kw)] = calls
    assert app == "bastion.app:app_from_environment" and kw["workers"] == 2 and kw["factory"] is True
    assert kw["proxy_headers"] is False and kw["http"] is GuardedHttpToolsProtocol


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_a_clear_error_not_a_traceback(serve_env: Path, workers: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code = main(["serve", "--config", str(serve_env), "--host", "127.0.0.1", "--port", str(port),
                     "--workers", workers, "--quiet"])
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}: the address is already in use" in capsys.readouterr().err


@linux_only
@pytest.mark.parametrize(("flag", "timeout"), [([], 30.0), (["--worker-timeout", "2.5"], 2.5),
                                               (["--worker-timeout", "0"], 0.0)])
def test_the_worker_timeout_reaches_the_supervisor(serve_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                   flag: list[str], timeout: float) -> None:
    seen: list[float] = []
    monkeypatch.setattr(Supervisor, "run", lambda self: seen.append(self.worker_timeout) or 0)
    assert main(["serve", "--config", str(serve_env), "--port", "0", "--workers", "2", "--quiet", *flag]) == 0
    assert seen == [timeout]


@pytest.mark.parametrize("value", ["1", "-5", "nan", "inf"])
def test_a_worker_timeout_the_heartbeat_cannot_meet_is_refused(serve_env: Path, value: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--config", str(serve_env), "--port", "0", "--workers", "2", "--quiet",
                 "--worker-timeout", value])
    assert code == 2
    assert "--worker-timeout must be 0 (off) or at least 2 seconds" in capsys.readouterr().err


@linux_only
@pytest.mark.parametrize(("setting", "flag", "timeout"), [("7", [], 7.0), ("0", [], 0.0),
                                                          ("7", ["--worker-timeout", "3"], 3.0)])
def test_the_config_sets_the_worker_timeout_and_the_flag_overrides_it(
        serve_env: Path, monkeypatch: pytest.MonkeyPatch, setting: str, flag: list[str], timeout: float) -> None:
    serve_env.write_text(serve_env.read_text().replace(
        "server: {admin_key:", f"server: {{worker_timeout_seconds: {setting}, admin_key:"))
    seen: list[float] = []
    monkeypatch.setattr(Supervisor, "run", lambda self: seen.append(self.worker_timeout) or 0)
    assert main(["serve", "--config", str(serve_env), "--port", "0", "--workers", "2", "--quiet", *flag]) == 0
    assert seen == [timeout]


@pytest.mark.parametrize("value", ["1", "-5", ".nan", ".inf"])
def test_a_configured_worker_timeout_the_heartbeat_cannot_meet_is_a_config_error(
        serve_env: Path, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    serve_env.write_text(serve_env.read_text().replace(
        "server: {admin_key:", f"server: {{worker_timeout_seconds: {value}, admin_key:"))
    assert main(["config", "check", str(serve_env)]) != 0
    assert "server.worker_timeout_seconds" in capsys.readouterr().err
