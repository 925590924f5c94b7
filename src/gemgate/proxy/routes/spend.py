"""/spend/logs, /spend/tags and /spend/report: what was spent, by whom, on what (master key only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast, get_args

import orjson
from aiohttp import web

from gemgate import errors
from gemgate.proxy.state import CALLER, app_state
from gemgate.proxy.storage.key_store import KEY_PREFIX, hash_key
from gemgate.proxy.storage.spend_logs import SpendFilter, SpendGrouping, SpendTotal
from gemgate.proxy.storage.spend_rows import SpendRow

_MAX_PAGE = 1000


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def _logs_of(request: web.Request) -> Any:
    if not request[CALLER].is_admin:
        raise errors.PermissionDeniedError("Only the master key may read spend.")
    store = app_state(request).store
    if store is None:
        raise errors.ServiceUnavailableError("Spend needs the database, which is not open.")
    return store.spend_logs


def spend_filter(query: Any) -> SpendFilter:
    """The filter the query string asks for (keys given plainly are hashed)."""
    key = query.get("api_key") or query.get("key") or None
    return SpendFilter(
        key_hash=hash_key(key) if key and key.startswith(KEY_PREFIX) else key,
        user_id=query.get("user_id") or None,
        team_id=query.get("team_id") or None,
        tag=query.get("tag") or None,
        model=query.get("model") or None,
        start=_moment(query.get("start_date"), "start_date"),
        end=_moment(query.get("end_date"), "end_date"),
    )


def _moment(text: str | None, name: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise errors.BadRequestError(f"{name} must be an ISO 8601 date or time, got {text!r}") from None  # fmt: skip
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def row_json(row: SpendRow) -> dict[str, Any]:
    return {
        "request_id": row.request_id, "client_request_id": row.client_request_id,
        "model": row.model, "deployment": row.deployment,
        "route": row.route, "status": row.status, "spend": float(row.cost),
        "key_hash": row.key_hash, "key_alias": row.key_alias, "user_id": row.user_id,
        "team_id": row.team_id, "end_user": row.end_user, "tags": list(row.tags),
        "prompt_tokens": row.prompt_tokens, "completion_tokens": row.completion_tokens,
        "cached_tokens": row.cached_tokens, "reasoning_tokens": row.reasoning_tokens,
        "total_tokens": row.prompt_tokens + row.completion_tokens, "latency_ms": row.latency_ms,
        "start_time": row.start_time.isoformat(), "end_time": row.end_time.isoformat(),
    }  # fmt: skip


def total_json(total: SpendTotal, group_by: str) -> dict[str, Any]:
    return {
        group_by: total.group, "spend": float(total.spend), "requests": total.requests,
        "prompt_tokens": total.prompt_tokens, "completion_tokens": total.completion_tokens,
    }  # fmt: skip


async def logs(request: web.Request) -> web.StreamResponse:
    spend_logs = _logs_of(request)
    limit = request.query.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= _MAX_PAGE:
        raise errors.BadRequestError(f"limit must be a whole number from 1 to {_MAX_PAGE}")
    try:
        page = await spend_logs.logs(spend_filter(request.query), limit=int(limit),
                                     cursor=request.query.get("cursor") or None)  # fmt: skip
    except ValueError as error:
        raise errors.BadRequestError(f"cursor: {error}") from None
    return _json({"logs": [row_json(row) for row in page.rows], "next_cursor": page.next_cursor})


async def tags(request: web.Request) -> web.StreamResponse:
    totals = await _logs_of(request).tag_totals()
    return _json({"tags": [total_json(total, "tag") for total in totals]})


async def report(request: web.Request) -> web.StreamResponse:
    spend_logs = _logs_of(request)
    group_by = request.query.get("group_by", "day")
    if group_by not in get_args(SpendGrouping):
        choices = ", ".join(get_args(SpendGrouping))
        raise errors.BadRequestError(f"group_by must be one of {choices}, got {group_by!r}")
    totals = await spend_logs.report(cast(SpendGrouping, group_by), spend_filter(request.query))
    return _json({"group_by": group_by, "totals": [total_json(total, group_by) for total in totals]})  # fmt: skip
