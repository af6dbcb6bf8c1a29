"""A bound on the time one item may take, so a slow item cannot hold up the stream.

The intake stage is CPU-bound Python on the event loop's thread; a timer signal interrupts it between
bytecodes. The stages also bound their own work (size and depth limits before parsing), so C code that
cannot be interrupted is short.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class ItemTimeout(BaseException):
    """An item took longer than its time bound."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise ``ItemTimeout`` in this block once ``seconds`` have passed (main thread only; 0 disables)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expire(signum: int, frame: FrameType | None) -> None:
        raise ItemTimeout(f"took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
