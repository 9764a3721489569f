"""Time for the engine: every `sys.now`, `sys.sleep` and retry backoff goes through a Clock."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the engine needs from time."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for `seconds` (virtual clocks advance instead)."""
        ...


class SystemClock:
    """Wall-clock time; sleeps really wait."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def sleep_interruptibly(self, seconds: float, interrupt: threading.Event) -> None:
        """Sleep until `seconds` passed or `interrupt` is set (used for cancellation)."""
        if seconds > 0:
            interrupt.wait(seconds)


class FakeClock:
    """Virtual time for tests: `sleep` records the delay and advances `now` at once.

    Thread-safe, so parallel branches may sleep concurrently.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2024, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self._now += timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        """Move virtual time forward without recording a sleep."""
        with self._lock:
            self._now += timedelta(seconds=seconds)
