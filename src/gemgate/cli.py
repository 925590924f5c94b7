"""The `gemgate` command: the gateway (`gemgate`), the offline emulator (`gemgate emulate`) and
database migrations (`gemgate db upgrade`).

This is the only module that configures logging and the only one that prints. What the command
needs of the emulator is in cli_emulator, loaded only by a process that serves an emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import secrets
import ssl
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from aiohttp import web
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from gemgate.proxy import ConfigError, ProxyConfig, create_app, load_config
from gemgate.proxy.access_log import JsonLinesFormatter
from gemgate.proxy.metrics import share_across_processes
from gemgate.proxy.storage.database import (
    async_database_url,
    open_database,
    resolve_database_url,
    upgrade_database,
)
from gemgate.serving import (
    Binding,
    GatewayServer,
    StartupError,
    TlsSetupError,
    bind,
    serve,
    serve_forked,
    server_tls_context,
    url_of,
    uvicorn_server,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("gemgate.cli")

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
EMULATOR_PORT = 8090
_SECRETS_IN_LOGS = re.compile(r"(?i)(\bkey=|\bbearer\s+)[^\s&\"']+|AIza[0-9A-Za-z_\-]{35}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line instead of argparse's usage block, so scripts see a single clear error.
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gemgate` command; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        if arguments[:1] == ["emulate"]:
            return _emulate(_emulate_parser().parse_args(arguments[1:]))
        if arguments[:1] == ["db"]:
            return _db(_db_parser().parse_args(arguments[1:]))
        return _gateway(_gateway_parser().parse_args(arguments))
    except StartupError as error:
        print(f"gemgate: {error}", file=sys.stderr)
        return error.exit_status
    except ConfigError as error:
        print(f"gemgate: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the servers took over the signal
        return 130


def _gateway_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gemgate",
        description="Serve the gemgate gateway in front of Google's Gemini API.",
        epilog="Run `gemgate emulate --help` for the offline Gemini emulator and "
        "`gemgate db --help` for database migrations.",
    )
    parser.add_argument("--config", type=Path, help="config.yaml (general_settings, ...)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_port, default=4000, help="port to listen on")
    parser.add_argument(
        "--workers", type=_workers, default=1, help="worker processes sharing the port"
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    parser.add_argument(
        "--log-format", choices=("text", "json"), help="text lines or JSON lines (default: config)"
    )
    parser.add_argument(
        "--ssl-certfile", type=Path, metavar="FILE",
        help="serve HTTPS and WSS with this PEM certificate chain (default: config's ssl_certfile)",
    )  # fmt: skip
    parser.add_argument(
        "--ssl-keyfile", type=Path, metavar="FILE",
        help="the unencrypted PEM private key of --ssl-certfile (default: config's ssl_keyfile)",
    )  # fmt: skip
    return parser


def _emulate_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gemgate emulate",
        description="Serve an offline emulator of the Gemini Developer API and Vertex AI.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_port, default=EMULATOR_PORT, help="port to listen on")
    parser.add_argument(
        "--api-key", action="append", default=[], help="accepted API key (repeatable)"
    )
    parser.add_argument(
        "--service-account", action="append", default=[], metavar="KEYFILE.json",
        help="trust this service-account key file for OAuth tokens (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--new-service-account", metavar="OUT.json", type=Path,
        help="write a new service-account key file pointing at this emulator and trust it",
    )  # fmt: skip
    parser.add_argument(
        "--no-strict", action="store_true", help="skip the protobuf schema check of requests"
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    return parser


def _db_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gemgate db", description="Manage gemgate's database.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    upgrade = commands.add_parser(
        "upgrade",
        help="apply pending migrations (the gateway also does this at start-up)",
        description="Apply pending migrations to the database.",
    )
    upgrade.add_argument(
        "--database-url",
        help="postgresql://… or sqlite:///path (default: config's database_url, "
        "then $DATABASE_URL, then sqlite:///gemgate.db)",
    )
    upgrade.add_argument("--config", type=Path, help="config.yaml holding general_settings")
    upgrade.add_argument("--log-level", choices=LOG_LEVELS, default="warning")
    return parser


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"not a worker count (1-64): {text!r}")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return int(text)


def _gateway(args: argparse.Namespace) -> int:
    _configure_logging(args.log_level)
    config = load_config(args.config, os.environ)
    _configure_logging(args.log_level, is_json=(args.log_format or config.general_settings.log_format) == "json")  # fmt: skip
    for warning in config.warnings:
        logger.warning("%s", warning)
    tls = _tls_context(args, config)
    gateway_socket = bind(args.host, args.port)
    config = _with_database(config)
    emulator: list[Binding] = []
    if config.general_settings.gemini_api_key is None and not _has_own_upstreams(config):
        emulator_binding, config = _embedded_emulator(config, args.log_level)
        emulator.append(emulator_binding)
    elif config.general_settings.gemini_api_key is None:
        logger.info("Upstream: the api_base and credentials of each model_list deployment.")
    else:
        logger.info(
            "Upstream: Gemini Developer API at %s with the configured API key.",
            config.general_settings.gemini_api_base,
        )
    if config.general_settings.master_key is None:
        logger.warning("No master_key configured: the gateway is open to anyone who can reach it.")
    gateway = Binding(GatewayServer(_gateway_app(config, args.config), tls), gateway_socket)
    url = url_of(gateway_socket, "http" if tls is None else "https")
    logger.info("gemgate gateway listening on %s (%d worker(s))", url, args.workers)
    if args.workers == 1:
        # Last in the list: it starts after and stops before the emulator it talks to.
        return serve([*emulator, gateway])
    with tempfile.TemporaryDirectory(prefix="gemgate-metrics-") as folder:
        share_across_processes(Path(folder))  # the workers' metrics files, gone when they stop
        return serve_forked([emulator, *([gateway] for _ in range(args.workers))])


def _tls_context(args: argparse.Namespace, config: ProxyConfig) -> ssl.SSLContext | None:
    """The TLS context of the gateway's port, from the flags or else the config; None: plain HTTP."""
    settings = config.general_settings
    certfile = args.ssl_certfile or _path_or_none(settings.ssl_certfile)
    keyfile = args.ssl_keyfile or _path_or_none(settings.ssl_keyfile)
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        missing = "ssl_certfile" if certfile is None else "ssl_keyfile"
        flag = "--" + missing.replace("_", "-")
        raise TlsSetupError(
            f"TLS needs a certificate and its key: {flag} (or general_settings.{missing}) is missing"
        )
    # Built once, before workers fork: each inherits it, and a bad file fails the start here.
    return server_tls_context(certfile, keyfile)


def _path_or_none(text: str | None) -> Path | None:
    return None if text is None else Path(text)


def _with_database(config: ProxyConfig) -> ProxyConfig:
    """``config`` with a database: the configured one, else the embedded SQLite file."""
    settings = config.general_settings
    url = resolve_database_url(settings.database_url, os.environ)
    try:
        async_database_url(url)  # an unusable URL is a config error before anything starts
    except ValueError as error:
        raise ConfigError(f"general_settings.database_url: {error}") from error
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        # Once, before any worker is forked: workers starting together never race to migrate.
        asyncio.run(_upgrade(url))
    except (SQLAlchemyError, OSError) as error:
        raise StartupError(f"cannot open the database {shown}: {type(error).__name__}") from error
    logger.info("Keys and spend kept in %s", shown)
    update = {"general_settings": settings.model_copy(update={"database_url": url})}
    return config.model_copy(update=update)


def _gateway_app(config: ProxyConfig, path: Path | None) -> web.Application:
    """The gateway's app; a deployment it cannot use is a config error naming the file."""
    try:
        return create_app(config)
    except ConfigError as error:
        if path is None:
            raise
        raise ConfigError(f"{path}: {error}") from error


def _has_own_upstreams(config: ProxyConfig) -> bool:
    """Whether every deployment names its own upstream (then no emulator is needed)."""
    return bool(config.model_list) and not any(
        entry.uses_default_upstream() for entry in config.model_list
    )


def _embedded_emulator(config: ProxyConfig, log_level: str) -> tuple[Binding, ProxyConfig]:
    """The built-in emulator on 127.0.0.1, and the config pointed at it with a fresh key."""
    try:
        emulator_socket = bind("127.0.0.1", EMULATOR_PORT)
    except StartupError:
        emulator_socket = bind("127.0.0.1", 0)
    # Listening already: with --workers, a gateway worker may call the emulator while its own
    # process is still loading it; the call then waits in the backlog instead of being refused.
    emulator_socket.listen()
    url = url_of(emulator_socket)
    api_key = secrets.token_urlsafe(24)
    server = uvicorn_server(_EmbeddedEmulatorApp(api_key), log_level)
    logger.info(
        "No GEMINI_API_KEY set: answering from the built-in Gemini emulator at %s "
        "(simulated replies).",
        url,
    )
    return Binding(server, emulator_socket), config.with_upstream(url, api_key)


class _EmbeddedEmulatorApp:
    """The built-in emulator's ASGI app, made on its first event (uvicorn's lifespan start-up).

    That event comes in the process serving the emulator: with --workers, the gateway workers
    are forked before it and never load the emulator (Google's schema, grpc: ~29 MB each)."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            from gemgate import cli_emulator  # deferred: only the emulator's process loads it

            self._app = cli_emulator.embedded_emulator_app(self._api_key)
        await self._app(scope, receive, send)


def _emulate(args: argparse.Namespace) -> int:
    _configure_logging(args.log_level)
    from gemgate import cli_emulator  # deferred: the emulator is loaded only where it is served

    return cli_emulator.emulate(args)


def _db(args: argparse.Namespace) -> int:
    _configure_logging(args.log_level)
    configured = args.database_url
    if configured is None and args.config is not None:
        configured = load_config(args.config, os.environ).general_settings.database_url
    url = resolve_database_url(configured, os.environ)
    try:
        async_database_url(url)  # refuse an unusable URL before connecting
        revision = asyncio.run(_upgrade(url))
    except ValueError as error:
        raise StartupError(str(error)) from error
    except (SQLAlchemyError, OSError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise StartupError(f"cannot upgrade the database: {reason}") from error
    shown = make_url(url).render_as_string(hide_password=True)
    print(f"database {shown} is at revision {revision}")
    return 0


async def _upgrade(url: str) -> str:
    async with open_database(url, migrate=False) as engine:
        return await upgrade_database(engine)


def _configure_logging(level: str, *, is_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if is_json:
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # httpx logs every request at INFO; the gateway's own lines say what matters.
    quiet = max(logging.WARNING, logging.getLevelName(level.upper()))
    for name in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(name).setLevel(quiet)


class _RedactingFormatter(logging.Formatter):
    """Masks API keys and bearer tokens, e.g. `?key=` in access-log lines."""

    def format(self, record: logging.LogRecord) -> str:
        return _SECRETS_IN_LOGS.sub(_mask, super().format(record))


def _mask(match: re.Match[str]) -> str:
    return (match.group(1) or "") + "[redacted]"
