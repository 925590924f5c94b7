"""The command line's emulator: `gemgate emulate`, the gateway's built-in emulator app and
service-account key files. Only the process that serves an emulator imports this module."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from gemgate.emulator import EmulatorSettings, ServiceAccount, create_emulator_app, service_accounts
from gemgate.emulator import schema as emulator_schema
from gemgate.serving import Binding, StartupError, bind, serve, url_of, uvicorn_server

# The command line's logger: `gemgate emulate` speaks with the same voice as the gateway.
logger = logging.getLogger("gemgate.cli")

EMULATOR_PROJECT = "emulator-project"
EMULATOR_CLIENT_EMAIL = f"gemgate-emulator@{EMULATOR_PROJECT}.iam.gserviceaccount.com"


def emulate(args: argparse.Namespace) -> int:
    """Serve `gemgate emulate` with its parsed arguments until a stop signal."""
    listening = bind(args.host, args.port)
    url = url_of(listening)
    accounts = [_trusted_service_account(Path(path)) for path in args.service_account]
    if args.new_service_account is not None:
        accounts.append(_new_service_account(args.new_service_account, url))
    if not args.api_key:
        logger.info("No --api-key given: the emulator accepts any non-empty API key.")
    settings = EmulatorSettings(
        api_keys=frozenset(args.api_key) if args.api_key else None,
        service_accounts=tuple(accounts),
        strict_schema=_strict_schema(is_requested=not args.no_strict),
    )
    logger.info("Gemini emulator listening on %s", url)
    return serve(
        [Binding(uvicorn_server(create_emulator_app(settings), args.log_level), listening)]
    )


def embedded_emulator_app(api_key: str) -> Starlette:
    """The gateway's built-in emulator: accepts ``api_key`` only; strict when the schema is there."""
    settings = EmulatorSettings(
        api_keys=frozenset({api_key}), strict_schema=emulator_schema.is_available()
    )
    return create_emulator_app(settings)


def _strict_schema(*, is_requested: bool) -> bool:
    if is_requested and not emulator_schema.is_available():
        logger.warning(
            "Strict request checking is off: install gemgate[schema] "
            "(google-ai-generativelanguage) to check bodies against Google's schema."
        )
    return is_requested and emulator_schema.is_available()


def _trusted_service_account(path: Path) -> ServiceAccount:
    try:
        info: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise StartupError(f"cannot read service account key file {path}: {reason}") from error
    except ValueError as error:  # bad JSON or not UTF-8
        raise StartupError(f"{path} is not JSON: {error}") from error
    if not isinstance(info, dict):
        raise StartupError(f"{path} is not a service account key file")
    try:
        return service_accounts.service_account_from_key_file(info)
    except ValueError as error:
        raise StartupError(f"{path}: {error}") from error


def _new_service_account(path: Path, emulator_url: str) -> ServiceAccount:
    key_file, account = service_accounts.new_service_account(
        client_email=EMULATOR_CLIENT_EMAIL,
        token_uri=f"{emulator_url}/token",
        project_id=EMULATOR_PROJECT,
    )
    try:
        _write_private(path, json.dumps(key_file, indent=2) + "\n")
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise StartupError(f"cannot write {path}: {reason}") from error
    logger.info("Wrote service account key file %s for %s", path, account.client_email)
    return account


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only: the file holds a private key."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(descriptor, 0o600)  # an existing file keeps its old mode otherwise
        file.write(text)
