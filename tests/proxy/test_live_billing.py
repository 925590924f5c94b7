"""How a Live session's end reads in the spend log, and how a refused setup closes the caller."""

from __future__ import annotations

import pytest

from gemgate.proxy.live_billing import (
    CALLER_GONE,
    OTHER_MODEL,
    SessionEnd,
    metrics_label,
    refusal_code,
    session_end,
)


@pytest.mark.parametrize(
    ("code", "by_caller", "status"),
    [
        (1000, True, 200), (1001, True, 200), (4000, True, 200), (1005, True, 200),
        (1006, True, CALLER_GONE),  # the caller vanished without a close frame
        (1000, False, 200), (1001, False, 200), (1005, False, 200),  # Google ended it normally
        (1007, False, 400), (1008, False, 403), (1009, False, 413), (1011, False, 500),
        (1013, False, 503),
        (1006, False, 502), (4001, False, 502),  # Google broke off, or a code it never sends
    ],
)  # fmt: skip
def test_a_sessions_close_is_read_as_a_status(code: int, by_caller: bool, status: int) -> None:
    expected = SessionEnd(code, "caller" if by_caller else "google", status)
    assert session_end(code, by_caller=by_caller) == expected


@pytest.mark.parametrize(("status", "code"), [(403, 1008), (401, 1008), (429, 1013)])
def test_a_refused_setup_closes_with_policy_or_try_again_later(status: int, code: int) -> None:
    assert refusal_code(status) == code


@pytest.mark.parametrize(
    ("model", "label"),
    [
        ("models/gemini-live-2.5-flash-preview", "gemini-live-2.5-flash"),
        ("projects/p/locations/l/publishers/google/models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("models/named-by-the-caller", OTHER_MODEL),
        (None, None),
    ],
)
def test_live_models_are_labelled_by_their_price_table_name(
    model: str | None, label: str | None
) -> None:
    assert metrics_label(model) == label
