"""/key/generate, /key/info, /key/update, /key/delete, /key/list, /team/new, /team/info: virtual
keys and teams, for the master key (a key may read its own /key/info)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from gemgate import errors
from gemgate.proxy.bodies import json_object
from gemgate.proxy.callers import Caller, key_scope, team_scope
from gemgate.proxy.gateway_store import GatewayStore
from gemgate.proxy.key_requests import (
    KeyDeletion,
    KeyFields,
    KeyUpdate,
    TeamFields,
    key_json,
    key_settings,
    parsed,
    team_json,
    team_settings,
)
from gemgate.proxy.state import CALLER, app_state
from gemgate.proxy.storage.conflicts import RecordExists
from gemgate.proxy.storage.key_store import KEY_PREFIX, KeyRecord, generate_key, hash_key

_MAX_PAGE = 1000


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _store(request: web.Request) -> GatewayStore:
    store = app_state(request).store
    if store is None:
        raise errors.ServiceUnavailableError("Keys need the database, which is not open.")
    return store


def _require_admin(request: web.Request) -> None:
    if not request[CALLER].is_admin:
        raise errors.PermissionDeniedError("Only the master key may manage keys and teams.")


def key_hash_of(key_or_hash: str) -> str:
    """Keys are named by the key itself or by its hash (the `token` answers show)."""
    return hash_key(key_or_hash) if key_or_hash.startswith(KEY_PREFIX) else key_or_hash


async def generate(request: web.Request) -> web.StreamResponse:
    _require_admin(request)
    store = _store(request)
    fields = parsed(KeyFields, await json_object(request))
    now = datetime.now(UTC)
    settings = key_settings(fields, now)
    await _check_team(store, settings.team_id)
    key = generate_key()
    try:
        record = await store.keys.keys.create(hash_key(key), settings, now)
    except RecordExists as error:
        raise errors.BadRequestError(str(error), status_code=409) from None
    store.keys.remember(record)
    await _seed_budget(store, record)
    await store.announce_change()
    return _json({"key": key, **key_json(record)})


async def _check_team(store: GatewayStore, team_id: str | None) -> None:
    if team_id is not None and await store.keys.teams.get(team_id) is None:
        raise errors.BadRequestError(f"team_id: no team {team_id!r}; make it with /team/new first")


async def _seed_budget(store: GatewayStore, record: KeyRecord) -> None:
    """Start the budget counter of a key that has a budget from its stored spend."""
    if record.settings.max_budget is not None:
        await store.counters.set_spend(key_scope(record.key_hash), record.spend, only_if_unset=True)


async def info(request: web.Request) -> web.StreamResponse:
    caller: Caller = request[CALLER]
    asked = request.query.get("key")
    if not asked and caller.key is None:
        raise errors.BadRequestError("key: give the key (or its token) as ?key=")
    key_hash = key_hash_of(asked) if asked else caller.key_hash
    if not caller.is_admin and key_hash != caller.key_hash:
        raise errors.PermissionDeniedError("A key may only read its own info.")
    record = await _store(request).keys.keys.get(key_hash or "")
    if record is None:
        raise errors.NotFoundError("No such key.")
    return _json({"key": record.key_hash, "info": key_json(record)})


async def update(request: web.Request) -> web.StreamResponse:
    _require_admin(request)
    store = _store(request)
    fields = parsed(KeyUpdate, await json_object(request))
    key_hash = key_hash_of(fields.key)
    current = await store.keys.keys.get(key_hash)
    if current is None:
        raise errors.NotFoundError("No such key.")
    now = datetime.now(UTC)
    settings = key_settings(fields, now, base=current.settings)
    await _check_team(store, settings.team_id)
    try:
        record = await store.keys.keys.update(key_hash, settings, now)
    except RecordExists as error:
        raise errors.BadRequestError(str(error), status_code=409) from None
    if record is None:
        raise errors.NotFoundError("No such key.")
    store.keys.remember(record)
    await _seed_budget(store, record)
    await store.announce_change()
    return _json(key_json(record))


async def delete(request: web.Request) -> web.StreamResponse:
    _require_admin(request)
    store = _store(request)
    deletion = parsed(KeyDeletion, await json_object(request))
    deleted = []
    for given in deletion.keys:
        key_hash = key_hash_of(given)
        if await store.keys.keys.delete(key_hash):
            store.keys.forget(key_hash)
            deleted.append(key_hash)
    if not deleted:
        raise errors.NotFoundError("None of these keys exist.")
    await store.announce_change()
    return _json({"deleted_keys": deleted})


async def list_keys(request: web.Request) -> web.StreamResponse:
    _require_admin(request)
    limit = _page_size(request.query.get("limit"))
    try:
        page = await _store(request).keys.keys.list(
            limit=limit, cursor=request.query.get("cursor") or None,
            user_id=request.query.get("user_id") or None, team_id=request.query.get("team_id") or None,
        )  # fmt: skip
    except ValueError as error:
        raise errors.BadRequestError(f"cursor: {error}") from None
    return _json({"keys": [key_json(record) for record in page.keys], "next_cursor": page.next_cursor})  # fmt: skip


def _page_size(given: str | None) -> int:
    if given is None:
        return 100
    if not given.isdigit() or not 1 <= int(given) <= _MAX_PAGE:
        raise errors.BadRequestError(f"limit must be a whole number from 1 to {_MAX_PAGE}")
    return int(given)


async def new_team(request: web.Request) -> web.StreamResponse:
    _require_admin(request)
    store = _store(request)
    fields = parsed(TeamFields, await json_object(request))
    team_id = fields.team_id or f"team-{generate_key()[len(KEY_PREFIX) : len(KEY_PREFIX) + 16]}"
    try:
        record = await store.keys.teams.create(team_id, team_settings(fields), datetime.now(UTC))
    except RecordExists as error:
        raise errors.BadRequestError(str(error), status_code=409) from None
    if record.settings.max_budget is not None:
        await store.counters.set_spend(team_scope(team_id), record.spend, only_if_unset=True)
    await store.keys.refresh()
    await store.announce_change()
    return _json(team_json(record))


async def team_info(request: web.Request) -> web.StreamResponse:
    _require_admin(request)
    team_id = request.query.get("team_id")
    if not team_id:
        raise errors.BadRequestError("team_id: give it as ?team_id=")
    record = await _store(request).keys.teams.get(team_id)
    if record is None:
        raise errors.NotFoundError(f"No team {team_id!r}.")
    return _json({"team_id": team_id, "team_info": team_json(record)})
