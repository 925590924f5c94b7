"""Serving: listening sockets bound up front, the gateway (aiohttp, optionally over TLS) and the
emulator (uvicorn) served together in one event loop or in forked worker processes, stopped
together on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import os
import signal
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

logger = logging.getLogger("gemgate.cli")

# Seconds in-flight requests get to finish after a stop signal.
GRACEFUL_SHUTDOWN_SECONDS = 10
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StartupError(Exception):
    """Why gemgate cannot start, in one line."""

    exit_status = 1


class TlsSetupError(StartupError):
    """The certificate and key asked for cannot serve TLS.

    Exit status 2, as for a wrong flag: what was asked for is wrong, not the machine."""

    exit_status = 2


class Serving(Protocol):
    """What `serve` drives: uvicorn's Server, or the gateway's aiohttp runner."""

    started: bool
    should_exit: bool
    force_exit: bool

    async def serve(self, sockets: list[socket.socket] | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Binding:
    """A server and the socket it serves, bound before the server starts."""

    server: Serving
    socket: socket.socket


class GatewayServer:
    """The gateway's aiohttp app served on given sockets until `should_exit` is set."""

    def __init__(self, app: web.Application, ssl_context: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self.started = False
        self.should_exit = False
        self.force_exit = False

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        # Cancelling a handler when its caller leaves is what stops the upstream call too.
        runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None,
                               shutdown_timeout=GRACEFUL_SHUTDOWN_SECONDS)  # fmt: skip
        await _start_app(runner)
        _tune_garbage_collection()
        try:
            for listening in sockets or []:
                await web.SockSite(runner, listening, backlog=1024, ssl_context=self.ssl_context,
                                   shutdown_timeout=GRACEFUL_SHUTDOWN_SECONDS).start()  # fmt: skip
            self.started = True
            while not (self.should_exit or self.force_exit):
                await asyncio.sleep(0.1)
        finally:
            await runner.cleanup()


async def _start_app(runner: web.AppRunner) -> None:
    """Run the app's start-up (database, journal, credentials); a failure is one StartupError."""
    try:
        await runner.setup()
    except Exception as error:
        # Whatever the app could not open, the operator gets one line saying what; the
        # traceback is there for --log-level debug.
        logger.debug("gateway start-up failed", exc_info=True)
        raise StartupError(f"cannot start the gateway: {_startup_reason(error)}") from error


def _startup_reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        reason = error.strerror.lower()
        return f"{reason}: {error.filename}" if error.filename else reason
    first_line = str(error).strip().split("\n", 1)[0]
    return f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__


# Every request allocates a few hundred short-lived objects; at the default threshold (700) the
# youngest generation was collected several times per request. Measured on the chat route at 128
# connections: 2 980 req/s with the default, 3 470 req/s with this.
GC_THRESHOLDS = (20_000, 50, 1_000)


def _tune_garbage_collection() -> None:
    """Keep the objects made at start-up (modules, config, app) out of every later collection,
    and collect the young generation less often.

    A full collection walks every live object; with the libraries loaded that took tens of
    milliseconds and stalled every request in flight (p99 at 32 connections went from 69 ms to
    12 ms once start-up objects were frozen). Objects made while serving are collected as usual."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serve_forked(groups: Sequence[Sequence[Binding]]) -> int:
    """Serve each non-empty group in its own process; stop them all when one stops or on a signal.

    Each child hears of a stop once: a child takes a second SIGTERM as "force exit", and uvicorn
    then skips its shutdown. Stop signals wait while the children are forked, so none is lost or
    kills a child that has not set up its own handlers yet."""
    with _stop_signals_held():
        children = _Children([_fork(group) for group in groups if group])
        for signal_number in STOP_SIGNALS:
            signal.signal(signal_number, children.on_stop_signal)
    return children.wait()


class _Children:
    """The forked children still running, and which of them were told to stop."""

    def __init__(self, pids: Iterable[int]) -> None:
        self.running = set(pids)
        self.told: set[int] = set()

    def on_stop_signal(self, signal_number: int, frame: object) -> None:
        # Every running child, even one told already: a second signal from the user forces exit.
        self._tell(self.running)

    def wait(self) -> int:
        """Wait for every child; 1 if any failed, else 0."""
        has_failed = False
        while self.running:
            finished, status = os.wait()
            self.running.discard(finished)
            has_failed = has_failed or os.waitstatus_to_exitcode(status) != 0
            with _stop_signals_held():  # a signal now would tell some children twice
                self._tell(self.running - self.told)  # one ended: the others stop too
        return 1 if has_failed else 0

    def _tell(self, pids: set[int]) -> None:
        _signal_all(pids, signal.SIGTERM)
        self.told |= pids


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the block; they arrive when it ends."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _fork(bindings: Sequence[Binding]) -> int:
    pid = os.fork()
    if pid == 0:  # the child serves and never returns into the parent's code
        # A terminal's Ctrl-C reaches every process of the group; the parent passes it on as
        # SIGTERM, so the children take only that and hear of one Ctrl-C once.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        status = 1
        try:
            status = serve(bindings, stop_signals=(signal.SIGTERM,))
        except StartupError as error:
            logger.error("worker %d: %s", os.getpid(), error)
        except Exception:
            logger.exception("worker %d failed", os.getpid())
        finally:
            os._exit(status)
    return pid


def _signal_all(pids: Iterable[int], signal_number: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal_number)


def bind(host: str, port: int) -> socket.socket:
    """A bound TCP socket, so that a busy port fails here in one line, before any server starts."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listening = socket.socket(family, kind, protocol)
    except OSError as error:
        raise StartupError(f"cannot listen on {host}:{port}: {_reason(error)}") from error
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
    except OSError as error:
        listening.close()
        raise StartupError(f"cannot listen on {host}:{port}: {_reason(error)}") from error
    return listening


def _reason(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "address already in use"
    return (error.strerror or str(error)).lower()


def url_of(bound: socket.socket, scheme: str = "http") -> str:
    host, port = bound.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def server_tls_context(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    """A TLS 1.2+ server context from PEM files; a TlsSetupError names the file that is wrong."""
    for role, path in (("certificate", certfile), ("key", keyfile)):
        _check_readable(role, path)
    _check_holds_a_certificate(certfile)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2

    def refuse_password() -> bytes:
        # Without a callback OpenSSL would prompt on the terminal, blocking a service's start.
        raise TlsSetupError(f"the TLS key {keyfile} is encrypted; give it unencrypted")

    try:
        context.load_cert_chain(certfile, keyfile, password=refuse_password)
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            message = f"the TLS key {keyfile} does not match the certificate {certfile}"
            raise TlsSetupError(message) from error
        raise TlsSetupError(f"the TLS key {keyfile} holds no PEM private key") from error
    return context


def _check_readable(role: str, path: Path) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        reason = (error.strerror or type(error).__name__).lower()
        raise TlsSetupError(f"cannot read the TLS {role} {path}: {reason}") from error


def _check_holds_a_certificate(certfile: Path) -> None:
    """Tell a bad certificate from a bad key: load_cert_chain's error does not say which."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        probe.load_verify_locations(cafile=certfile)
    except ssl.SSLError as error:
        raise TlsSetupError(f"the TLS certificate {certfile} holds no PEM certificate") from error


def uvicorn_server(app: Any, log_level: str) -> Serving:
    """A uvicorn server for ``app`` (the emulator) that leaves signals to `serve`."""
    import uvicorn  # deferred: a gateway serving no emulator never loads it (~2 MB resident)

    class UvicornServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    config = uvicorn.Config(
        app,
        # Logging is configured once, by the command line; uvicorn's loggers are process-wide,
        # so the embedded emulator's access lines show too.
        log_config=None,
        log_level=log_level,
        ws="websockets-sansio",
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return UvicornServer(config)


def serve(bindings: Sequence[Binding], stop_signals: Sequence[int] = STOP_SIGNALS) -> int:
    """Serve ``bindings`` in one event loop until one of ``stop_signals`` or one server stops."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_serve_together(bindings, stop_signals))
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop  # optional: uvicorn[standard] brings it on POSIX
    except ImportError:  # pragma: no cover - exercised only without uvloop
        return None
    return uvloop.new_event_loop


async def _serve_together(bindings: Sequence[Binding], stop_signals: Sequence[int]) -> None:
    """Serve until a stop signal or until one server stops; stop in reverse order of start."""
    stopping = _event_set_on_signals(bindings, stop_signals)
    serving = [await _start(binding, stopping) for binding in bindings]
    stop_requested = asyncio.create_task(stopping.wait())
    await asyncio.wait([*serving, stop_requested], return_when=asyncio.FIRST_COMPLETED)
    # The gateway stops first, so its in-flight requests can still reach the emulator.
    failures: list[StartupError] = []
    for binding, task in reversed(list(zip(bindings, serving, strict=True))):
        binding.server.should_exit = True
        try:
            await task
        except StartupError as error:
            failures.append(error)
    stop_requested.cancel()
    if failures:
        raise failures[0]
    logger.info("gemgate stopped")


async def _start(binding: Binding, stopping: asyncio.Event) -> asyncio.Task[None]:
    """Start serving ``binding`` and return once it listens (or gave up, or a stop came)."""
    task = asyncio.create_task(binding.server.serve(sockets=[binding.socket]))
    while not (binding.server.started or task.done() or stopping.is_set()):
        await asyncio.sleep(0.01)
    return task


def _event_set_on_signals(
    bindings: Sequence[Binding], stop_signals: Sequence[int]
) -> asyncio.Event:
    stopping = asyncio.Event()

    def on_signal() -> None:
        if stopping.is_set():  # a second signal: do not wait for in-flight requests
            for binding in bindings:
                binding.server.force_exit = True
        stopping.set()

    loop = asyncio.get_running_loop()
    for signal_number in stop_signals:
        loop.add_signal_handler(signal_number, on_signal)
    # A forked child starts with stop signals held (serve_forked); one sent meanwhile arrives now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    return stopping
