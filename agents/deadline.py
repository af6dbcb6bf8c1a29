"""A bound on the time one item may take, so a slow item cannot hold up the stream.

The intake stage is CPU-bound Python on the event loop's thread; a timer signal interrupts it between
bytecodes. The stages also bound their own work (size and depth limits before parsing), so C code that
cannot be interrupted is short.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType


class ItemTimeout(BaseException):
    """An item took longer than its time bound."""


class Deadline:
    """Raise ``ItemTimeout`` inside a ``with`` block once ``seconds`` have passed; reusable, item after item.

    Only in the main thread (where Python runs signal handlers), and not at all when ``seconds`` is 0. The
    SIGALRM handler is installed on first use and stays, so each block costs two ``setitimer`` calls (about
    1 µs in all) rather than two handler swaps as well (12 µs with a generator-based context manager).
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._installed = False
        self._armed = False

    def __enter__(self) -> None:
        self._armed = self._seconds > 0 and threading.current_thread() is threading.main_thread()
        if not self._armed:
            return
        if not self._installed:  # nothing else in the worker uses SIGALRM, so the handler can stay
            signal.signal(signal.SIGALRM, self._expire)
            self._installed = True
        signal.setitimer(signal.ITIMER_REAL, self._seconds)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._armed = False

    def _expire(self, signum: int, frame: FrameType | None) -> None:
        if self._armed:  # an alarm that lands between disarming and the next block is not this item's
            raise ItemTimeout(f"took longer than {self._seconds:g} s")
