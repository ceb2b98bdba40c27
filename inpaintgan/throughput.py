"""The training speed logged as ``train/images_per_s``: images per second between
consecutive batch starts, over a sliding window of batches."""

from __future__ import annotations

import time
from collections import deque

__all__ = ["Throughput"]


class Throughput:
    """Training images/s between consecutive batch starts, averaged over the last
    ``window`` intervals (the logging window: ``trainer.log_every_n_steps``).

    The clock is the host's, with no device synchronisation of its own: each batch ends
    with one host read of its finiteness flags
    (:meth:`inpaintgan.step_guard.NonFiniteGuard.check_batch`), so the host cannot run
    ahead of the device by more than a batch and the interval between two batch starts is
    the time of a whole training batch (data, D and G steps, hooks).
    """

    def __init__(self, window: int = 50) -> None:
        self.intervals: deque[tuple[float, int]] = deque(maxlen=max(1, window))
        self.last: tuple[float, int] | None = None

    def restart(self, window: int | None = None) -> None:
        """Forget the last batch start (after validation); resize the window if given."""
        if window is not None and window != self.intervals.maxlen:
            self.intervals = deque(self.intervals, maxlen=max(1, window))
        self.last = None

    def batch_started(self, images: int, now: float | None = None) -> float | None:
        """Record the start of a batch of ``images``; returns images/s over the window
        (None before the first complete interval)."""
        now = time.perf_counter() if now is None else now
        if self.last is not None:
            started, size = self.last
            self.intervals.append((now - started, size))
        self.last = (now, images)
        seconds = sum(t for t, _ in self.intervals)
        if not self.intervals or seconds <= 0:
            return None
        return sum(n for _, n in self.intervals) / seconds
