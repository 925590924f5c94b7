"""What a Live session is allowed and billed: its setup's model admitted for the caller's key,
the status its close stands for, and at its end its usage counted in the metrics, logged once and
written to the spend log as one row."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from aiohttp import web

from gemgate import errors
from gemgate.pricing import bundled_prices
from gemgate.proxy.admission import admit_model
from gemgate.proxy.ledger import Charge, charge
from gemgate.proxy.live_messages import LiveUsageTally, ModelNaming, live_model_id, name_setup_model
from gemgate.proxy.spend_tracking import record_usage
from gemgate.proxy.state import MODEL, AppState
from gemgate.translate.error_bodies import redact

logger = logging.getLogger(__name__)

# The metrics label of a Live model the price table does not know (callers choose the name).
OTHER_MODEL = "other"
# The spend-log status of a session whose caller vanished (nginx's convention, as the access log).
CALLER_GONE = 499
NO_SETUP = "The first message must be a setup that names a model."
_MAX_LOGGED_MODEL = 200
# How Google's close codes read as HTTP statuses (RFC 6455 §7.4.1, IANA's 1012–1014); a code
# not listed, or a dropped connection (1006), is the upstream failing: 502.
_STATUS_OF_GOOGLE_CLOSE = {
    0: 200, 1000: 200, 1001: 200, 1005: 200, 1007: 400, 1008: 403, 1009: 413, 1011: 500,
    1012: 503, 1013: 503,
}  # fmt: skip

ClosedBy = Literal["caller", "google", "gateway"]


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """How a session ended: the close code, who closed, and the status the spend log keeps."""

    code: int
    closed_by: ClosedBy
    status: int


def session_end(code: int, *, by_caller: bool) -> SessionEnd:
    """The end of a session one side closed with ``code`` (1006: without a close frame).

    The caller ends sessions: any close of theirs is a success, and only a vanished caller is
    CALLER_GONE. Google's codes are its errors, read as the statuses they stand for.
    """
    if by_caller:
        return SessionEnd(code, "caller", CALLER_GONE if code == 1006 else 200)
    return SessionEnd(code, "google", _STATUS_OF_GOOGLE_CLOSE.get(code, 502))


class LiveRefusal(Exception):
    """The gateway refuses the session at its setup: the caller is closed with ``code``."""

    def __init__(self, code: int, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.end = SessionEnd(code, "gateway", status)


async def admit_setup(
    request: web.Request, state: AppState, frame: str | bytes, naming: ModelNaming,
    tally: LiveUsageTally,
) -> str | bytes:  # fmt: skip
    """The caller's first frame named for Google, once the caller may use its model (counted
    against the key's limits as one request); raises LiveRefusal."""
    setup, tally.model = name_setup_model(frame, naming)
    if tally.model is None:
        raise LiveRefusal(1007, NO_SETUP, status=400)  # what Google answers a missing setup
    try:
        await admit_model(request, state, live_model_id(tally.model), None)
    except errors.GemgateError as error:
        raise LiveRefusal(refusal_code(error.status_code), error.message, error.status_code) from error  # fmt: skip
    return setup


def refusal_code(status: int) -> int:
    """The close code of an admission refused with ``status``: a spent limit may be tried again
    later (1013), a model the key may not use is against policy (1008)."""
    return 1013 if status == 429 else 1008


@dataclass(frozen=True, slots=True)
class LiveSession:
    """One finished session, as it is billed: the API it used ("gemini" or "vertex_ai")."""

    api: str
    tally: LiveUsageTally
    end: SessionEnd
    seconds: float


async def settle(request: web.Request, state: AppState, session: LiveSession) -> None:
    """Count the session's usage and cost, log one line, and write its spend-log row."""
    tally = session.tally
    usage, cost = tally.finish()
    label = metrics_label(tally.model)
    if label is not None:
        request[MODEL] = label
    if usage is not None:
        record_usage(state.metrics, label or OTHER_MODEL, f"{session.api}/live", usage, cost)
    _log(session, usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0, cost)  # fmt: skip
    if tally.model is not None:
        # The caller writes the name; Google refuses a long one, but its row is still written.
        model = live_model_id(tally.model)[:_MAX_LOGGED_MODEL]
        bill = Charge(model=model, status=session.end.status, usage=usage, cost=cost)
        await charge(request, state, bill)


def metrics_label(model: str | None) -> str | None:
    """A priced model's id, else OTHER_MODEL: callers name Live models, so names are bounded."""
    if model is None:
        return None
    return bundled_prices().priced_name(model) or OTHER_MODEL


def _log(
    session: LiveSession, prompt_tokens: int, completion_tokens: int, cost: Decimal | None
) -> None:
    end = session.end
    fields = {
        "live_api": session.api,
        "model": redact((session.tally.model or "")[:_MAX_LOGGED_MODEL]),
        "turns": session.tally.turns, "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_usd": None if cost is None else format(cost, "f"),
        "duration_s": round(session.seconds, 3), "close_code": end.code,
        "closed_by": end.closed_by, "status": end.status,
    }  # fmt: skip
    logger.info(
        "Live session on %s ended: model %s, %d turns, %d+%d tokens, cost %s, %.1fs, "
        "close %d by %s, status %d",
        *fields.values(), extra=fields,
    )  # fmt: skip
