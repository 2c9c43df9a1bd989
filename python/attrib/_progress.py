"""A dependency-free progress line for long Monte Carlo runs (stderr, redrawn in place)."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """Shows nothing for runs shorter than `delay` seconds, so quick calls stay quiet."""

    def __init__(self, enabled: bool, total: int | None, unit: str, delay: float = 1.0, stream=None):
        self.enabled = enabled
        self.total = total
        self.unit = unit
        self.delay = delay
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self.shown = False

    def update(self, done: int, note: str = "") -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        if elapsed < self.delay:
            return
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(24 * frac) + "." * (24 - int(24 * frac))
            head = f"[{bar}] {done}/{self.total} {self.unit}"
        else:
            head = f"{done} {self.unit}"
        self.stream.write(f"\r{head}  {elapsed:.1f}s  {note}   ")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
