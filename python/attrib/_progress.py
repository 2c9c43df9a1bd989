"""What long runs share between blocks: a progress bar on stderr (tqdm where it is installed, else
a dependency-free line redrawn in place; with an estimated time to the target), deferred Ctrl-C,
and block sizes adapted to the measured time per work item."""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time

__all__ = ["BlockSizer", "DeferredInterrupt", "Progress", "format_seconds"]

#: Seconds a block in flight may still run after Ctrl-C before it is cancelled (and discarded).
CANCEL_GRACE = 0.5

#: Wall-clock seconds a block of work aims at: short enough that Ctrl-C and time budgets take
#: effect promptly, long enough that the Python loop between blocks costs little.
BLOCK_SECONDS = 0.25


def format_seconds(seconds: float) -> str:
    """``"42 s"``, ``"3.5 min"``, ``"2.1 h"``."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Progress of a long run on stderr: a tqdm bar where tqdm is installed, else a plain line
    redrawn in place. Shows nothing for runs shorter than `delay` seconds, so quick calls stay
    quiet. ``ATTRIB_PROGRESS=plain`` forces the plain line (``=tqdm`` insists on tqdm)."""

    def __init__(self, enabled: bool, total: int | None, unit: str, delay: float = 1.0, stream=None):
        self.enabled = enabled
        self.total = total
        self.unit = unit
        self.delay = delay
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self.shown = False
        self._tqdm = None

    def update(self, done: int, note: str = "") -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        if elapsed < self.delay:
            return
        if self._tqdm is None and not self.shown:
            self._tqdm = _make_tqdm(self.total, self.unit, self.stream, elapsed)
        if self._tqdm is not None:
            bar = self._tqdm
            bar.n = min(done, self.total) if self.total else done
            bar.set_postfix_str(note, refresh=False)
            bar.refresh()
            self.shown = True
            return
        if self.total:
            frac = min(1.0, done / self.total)
            bar_text = "#" * int(24 * frac) + "." * (24 - int(24 * frac))
            head = f"[{bar_text}] {done}/{self.total} {self.unit}"
        else:
            head = f"{done} {self.unit}"
        self.stream.write(f"\r{head}  {elapsed:.1f}s  {note}   ")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
        elif self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _make_tqdm(total: int | None, unit: str, stream, elapsed: float):
    """A tqdm bar that starts its clock `elapsed` seconds ago, or None (tqdm missing, or
    ``ATTRIB_PROGRESS=plain``)."""
    mode = os.environ.get("ATTRIB_PROGRESS", "auto").strip().lower()
    if mode == "plain":
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if mode == "tqdm":
            raise ImportError("ATTRIB_PROGRESS=tqdm but tqdm is not installed: pip install tqdm") from None
        return None
    # "50/100 permutations", as the plain line says it (unit after the counts, not only in the rate)
    fmt = "{l_bar}{bar}| {n_fmt}/{total_fmt}{unit} [{elapsed}<{remaining}, {rate_fmt}{postfix}]" if total else None
    bar = tqdm(
        total=total, unit=f" {unit}", file=stream, dynamic_ncols=True, leave=True, mininterval=0.2, bar_format=fmt
    )
    bar.start_t -= elapsed  # the run started before the bar appeared
    return bar


class DeferredInterrupt:
    """Context manager: the first Ctrl-C (SIGINT) only sets :attr:`hit`, so the run loop can finish
    the block in flight, keep it and stop at the block boundary; a second Ctrl-C raises
    KeyboardInterrupt at once. Only the main thread can own SIGINT, and only Python's default
    handler is replaced: elsewhere (another thread, a custom handler) KeyboardInterrupt arrives
    as usual and the caller's ``except KeyboardInterrupt`` keeps the completed blocks."""

    def __init__(self):
        self.hit = False
        self._previous = None

    def _handler(self, signum, frame):
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    self._previous = signal.signal(signal.SIGINT, self._handler)
            except (ValueError, OSError):  # pragma: no cover - e.g. an embedded interpreter
                self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        return False

    _pool = None

    def run(self, call, token_factory=None):
        """``call(token)``, interruptible although the kernel holds no GIL.

        With this object owning SIGINT and a ``token_factory`` (the core's CancelToken), the kernel
        runs in a worker thread while the main thread waits in short, signal-aware joins; after
        Ctrl-C the block may finish within :data:`CANCEL_GRACE` seconds, else its token is set and
        the kernel stops at its next step. ``call`` returns None for a cancelled block; then, or on a
        second Ctrl-C, this raises KeyboardInterrupt (the block is discarded, completed ones kept).
        Otherwise ``call(None)`` runs directly.
        """
        if self._previous is None or token_factory is None:
            out = call(None)
        else:
            from concurrent.futures import ThreadPoolExecutor
            from concurrent.futures import TimeoutError as FutureTimeout

            if self._pool is None:  # one worker for the whole run: its OpenMP team stays warm
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attrib-block")
            token = token_factory()
            future = self._pool.submit(call, token)
            hit_at = None
            try:
                while True:
                    try:
                        out = future.result(timeout=0.05)
                        break
                    except FutureTimeout:
                        if self.hit and hit_at is None:
                            hit_at = time.perf_counter()
                        if hit_at is not None and time.perf_counter() - hit_at >= CANCEL_GRACE:
                            token.cancel()
            except BaseException:
                token.cancel()  # a second Ctrl-C: stop the kernel before unwinding
                future.exception()
                raise
        if out is None:
            raise KeyboardInterrupt
        return out


class BlockSizer:
    """Block sizes (in work items) that aim at :data:`BLOCK_SECONDS` per block, from the measured
    time per item. Sizes grow at most 16x per block (a first block of a cheap game must not
    mis-estimate), are multiples of `multiple`, at least `minimum` (e.g. one item per thread)
    and at most `maximum` (memory). Results must not depend on the sizes; the caller ensures that."""

    def __init__(
        self, first: int, minimum: int = 1, maximum: int = 1 << 20, multiple: int = 1, seconds: float | None = None
    ):
        self.multiple = max(1, int(multiple))
        self.minimum = self._round(max(1, minimum))
        self.maximum = max(self.minimum, (max(1, maximum) // self.multiple) * self.multiple)
        self.seconds = BLOCK_SECONDS if seconds is None else seconds
        self.size = min(self.maximum, max(self.minimum, self._round(first)))
        self.per_item = math.nan  # seconds per item, once measured

    def _round(self, k: float) -> int:
        m = self.multiple
        return max(m, int(math.ceil(k / m)) * m)

    def record(self, items: int, seconds: float) -> None:
        if items <= 0:
            return
        per_item = max(seconds, 1e-7) / items
        self.per_item = per_item if not math.isfinite(self.per_item) else 0.5 * (self.per_item + per_item)
        want = self.seconds / self.per_item
        self.size = min(self.maximum, max(self.minimum, self._round(min(want, 16 * self.size))))

    def next(self, remaining_items: int | None = None, remaining_seconds: float | None = None) -> int:
        """The next block's size: no more than what is left, and no more than fits the time left."""
        size = self.size
        if remaining_seconds is not None and math.isfinite(self.per_item):
            size = min(size, self._round(max(remaining_seconds, 0.0) / self.per_item))
        size = max(size, self.minimum)
        if remaining_items is not None:
            if remaining_items - size < size // 4 and remaining_items <= self.maximum and remaining_seconds is None:
                size = remaining_items  # no tiny last block: take the tail now
            size = min(size, remaining_items)
        return size
