"""Quiet logs for work that keeps failing while a database or Redis is down: one warning when the
run of failures starts, a reminder at most once a minute, an info line when it is over."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# While something keeps failing, a reminder at most this often.
STILL_FAILING_SECONDS = 60.0


@dataclass(slots=True)
class FailureStreak:
    """Logs a run of failures of one piece of work to its owner's ``logger``: a warning when it
    starts, a reminder at most every ``remind_every`` seconds while it lasts (debug otherwise),
    and how long it lasted. Lines name the caller's file and line (``stacklevel=2``)."""

    name: str
    logger: logging.Logger
    # What happens until the work recovers, said in the first warning.
    meanwhile: str = "retrying quietly until it recovers"
    # What the reminder counts: the failures since the previous warning.
    tally: str = "failures"
    remind_every: float = STILL_FAILING_SECONDS
    clock: Callable[[], float] = time.monotonic
    _started: float | None = field(default=None, init=False)
    _reminded: float = field(default=0.0, init=False)
    _unreported: int = field(default=0, init=False)

    def failed(self, error: BaseException) -> None:
        """Note one more failure; only its first and the periodic reminders are warnings."""
        now, reason = self.clock(), type(error).__name__
        if self._started is None:
            self._started = self._reminded = now
            self._unreported = 0
            self.logger.warning(
                "%s failed (%s); %s", self.name, reason, self.meanwhile, stacklevel=2
            )
            return
        self._unreported += 1
        if now - self._reminded >= self.remind_every:
            self.logger.warning(
                "%s has been failing for %.0f s (%s); %d %s since the last warning",
                self.name, now - self._started, reason, self._unreported, self.tally, stacklevel=2,
            )  # fmt: skip
            self._reminded, self._unreported = now, 0
        else:
            self.logger.debug("%s failed again (%s)", self.name, reason, stacklevel=2)

    def succeeded(self) -> None:
        """Note a success: ends the streak, if there was one."""
        if self._started is not None:
            lasted = self.clock() - self._started
            self.logger.info("%s recovered after %.0f s", self.name, lasted, stacklevel=2)
            self._started = None
