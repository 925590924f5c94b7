"""What each answered request cost and who pays: its spend-log row, journaled durably before the
answer completes, and its tokens and cost added to the limit counters of key, team, deployment."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from aiohttp import web

from gemgate.proxy.admission import deployment_limits
from gemgate.proxy.callers import Caller
from gemgate.proxy.pass_through_spend import END_USER_HEADER, TAGS_HEADER, end_user_of, tags_of
from gemgate.proxy.state import CALLER, GATEWAY_REQUEST_ID, REQUEST_ID, STARTED_AT, AppState
from gemgate.proxy.storage.spend_rows import SpendRow
from gemgate.routing.deployments import Deployment
from gemgate.translate.usage import Usage

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Charge:
    """The billable facts of one request, as its route knows them."""

    model: str
    status: int
    usage: Usage | None = None
    cost: Decimal | None = None
    deployment: Deployment | None = None
    end_user: str | None = None  # the OpenAI `user` field; else the end-user header
    tags: tuple[str, ...] = ()  # from the request body; the header's and the key's are added


async def charge(request: web.Request, state: AppState, bill: Charge) -> None:
    """Journal ``bill``'s spend row (on disk when this returns) and count it against limits."""
    if state.store is None:
        return
    caller: Caller = request[CALLER]
    now = datetime.now(UTC)
    row = spend_row(request, caller, bill, now)
    # A caller who leaves as the answer ends does not cancel its own spend row: the journal
    # writes a line it was given even if the caller stops waiting.
    await state.store.spend.record(row)
    scopes = [limit.scope for limit in (*caller.limits(), *deployment_limits(bill.deployment))]
    if scopes:
        tokens = 0 if bill.usage is None else bill.usage.total_tokens
        await state.store.counters.record(scopes, tokens, bill.cost or Decimal(0), now.timestamp())


class Settlement:
    """A streamed request's charge, made once: just before the stream's last bytes are sent (so a
    caller who has the whole answer has its row on disk), or as the stream ends early."""

    __slots__ = ("_bill", "_request", "_settled", "_state")

    def __init__(self, request: web.Request, state: AppState, bill: Callable[[], Charge]) -> None:
        self._request = request
        self._state = state
        self._bill = bill  # called once, when the stream's usage is final
        self._settled = False

    async def __call__(self) -> None:
        if self._settled:
            return
        self._settled = True
        await charge(self._request, self._state, self._bill())


def _client_request_id(request: web.Request) -> str | None:
    """The caller's own x-request-id, when it sent one (the gateway answers with it)."""
    shown = request[REQUEST_ID]
    return shown if shown != request[GATEWAY_REQUEST_ID] else None


def spend_row(request: web.Request, caller: Caller, bill: Charge, now: datetime) -> SpendRow:
    """The spend-log row of ``bill`` for the request being answered."""
    started: datetime = request.get(STARTED_AT, now)
    usage = bill.usage or Usage(prompt_tokens=0, completion_tokens=0)
    key = caller.key
    header_tags = tags_of(request.headers.get(TAGS_HEADER))
    key_tags = key.settings.tags if key is not None else ()
    resource = request.match_info.route.resource
    return SpendRow(
        request_id=request[GATEWAY_REQUEST_ID], model=_storable(bill.model),
        client_request_id=_storable_or_none(_client_request_id(request)),
        route=_storable(resource.canonical if resource is not None else request.path),
        cost=bill.cost or Decimal(0), start_time=started, end_time=now, status=bill.status,
        key_hash=caller.key_hash, key_alias=key.settings.key_alias if key else None,
        user_id=key.settings.user_id if key else None, team_id=key.settings.team_id if key else None,
        end_user=_storable_or_none(bill.end_user or end_user_of(request.headers.get(END_USER_HEADER))),
        deployment=bill.deployment.id if bill.deployment else None,
        prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens, reasoning_tokens=usage.reasoning_tokens,
        latency_ms=max(0, int((now - started).total_seconds() * 1000)),
        tags=tuple(dict.fromkeys(map(_storable, (*bill.tags, *header_tags, *key_tags)))),
    )  # fmt: skip


def _storable(text: str) -> str:
    """``text`` as a database can store it: PostgreSQL refuses NUL in text, and a caller's
    `user` field or tag holding one would otherwise keep its request's spend out of the totals."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _storable_or_none(text: str | None) -> str | None:
    return None if text is None else _storable(text)
