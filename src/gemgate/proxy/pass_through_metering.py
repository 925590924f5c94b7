"""Metering of one pass-through generation: the caller admitted to the model the path names, the
answer's usage read as it streams by, and its spend recorded before the answer completes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web

from gemgate.proxy.admission import admit_model
from gemgate.proxy.ledger import Charge, charge
from gemgate.proxy.metered_calls import MeteredCall, PassThroughProvider, metered_call
from gemgate.proxy.pass_through_spend import record_pass_through
from gemgate.proxy.state import MODEL, REQUEST_ID, AppState
from gemgate.proxy.usage_tap import UsageTap


@dataclass(slots=True)
class Metering:
    """The usage tap and spend of one relayed generation."""

    state: AppState
    call: MeteredCall
    started: float = field(default_factory=time.perf_counter)
    tap: UsageTap | None = None

    def watch(self, headers: Mapping[str, str]) -> None:
        """Start reading the answer whose response ``headers`` arrived."""
        self.tap = UsageTap.for_response(headers.get("content-type"), headers.get("content-encoding"))  # fmt: skip

    def feed(self, chunk: bytes) -> None:
        if self.tap is not None:
            self.tap.feed(chunk)

    async def settle(self, request: web.Request, status: int) -> None:
        """Price, log and journal the call (before the caller gets the answer's end)."""
        seconds = time.perf_counter() - self.started
        spend = record_pass_through(self.state, self.call, status, seconds, request.headers,
                                    self.tap, request_id=request[REQUEST_ID])  # fmt: skip
        bill = Charge(model=spend.model or self.call.resource, status=status, usage=spend.usage,
                      cost=spend.cost, end_user=spend.end_user, tags=spend.tags)  # fmt: skip
        await charge(request, self.state, bill)


async def metering_for(
    request: web.Request, state: AppState, provider: PassThroughProvider, path: str
) -> Metering | None:
    """The metering of ``path`` when it is a generation (the caller admitted to its model)."""
    call = metered_call(provider, path.partition("?")[0])
    if call is None:
        return None
    model = call.model or call.resource
    request[MODEL] = model
    await admit_model(request, state, model, None)
    return Metering(state, call)
