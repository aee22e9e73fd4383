"""Decode a sampling plan in worker processes: contiguous chunks, results merged in time order.

Each chunk is a run of consecutive kept frames with the spans that decode them; a worker opens
the file, seeks to the entry of its first span and returns the kept frames as small RGB bytes.
The parent hands out a bounded number of chunks ahead and yields results in chunk order, so
memory stays at a few chunks whatever the length of the file. Chunk boundaries are put where the
next span starts after the previous one ends, so no packet is decoded twice when that is possible.

Workers are plain ``python -c`` subprocesses fed pickled tasks over pipes, not multiprocessing:
spawn and forkserver re-import the caller's ``__main__`` in every child (an unguarded script
would start itself again), and fork is unsafe in a process that runs threads.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from PIL import Image

from .decoding import (
    DecodeFailed,
    PacketIndex,
    PacketSource,
    Plan,
    PlanMismatch,
    decode_spans,
    merge_ranges,
    to_image,
)
from .wire import child_command, ignore_stop_signals, recv, send, send_bytes

# Pixel bytes of all results in flight at once (submitted, finished or being yielded).
IN_FLIGHT_BYTES = 64 << 20
# Chunks per worker, for load balance (spans are uneven).
CHUNKS_PER_WORKER = 4


class WorkersUnavailable(Exception):
    """Worker processes could not be started (raised before any frame is yielded)."""


@dataclass
class Chunk:
    spans: list[tuple[int, int]]
    kept_pts: list[int]


@dataclass
class _Result:
    frames: list[tuple[float, tuple[int, int], bytes]] = field(default_factory=list)
    decoded: int = 0
    seeks: int = 0
    status: str = "ok"  # "ok", "mismatch" (the index was wrong) or "error" (damaged data)
    message: str = ""


def split_plan(plan: Plan, index: PacketIndex, workers: int, frame_bytes: int) -> list[Chunk]:
    """Cut the kept frames into contiguous chunks of similar decode cost."""
    total = sum(b - a + 1 for a, b in plan.spans)
    target = max(1, total // (workers * CHUNKS_PER_WORKER))
    # Memory per chunk: a soft cap where a split costs nothing, a hard one where it re-decodes
    # from the keyframe (many kept frames inside one long group of pictures).
    max_kept = max(1, IN_FLIGHT_BYTES // (2 * workers) // max(1, frame_bytes))
    hard_kept = 4 * max_kept
    groups: list[list[tuple[int, int]]] = []
    cur: list[tuple[int, int]] = []
    end, cost = -1, 0
    for e, k in zip(plan.entry_of, plan.kept, strict=True):
        if cur:
            clean = e > end  # this span shares no packet with the chunk so far
            if (clean and (cost >= target or len(cur) >= max_kept)) or len(cur) >= hard_kept:
                groups.append(cur)
                cur, end, cost = [], -1, 0
        cur.append((e, k))
        cost += max(0, k - max(e, end + 1) + 1)
        end = max(end, k)
    if cur:
        groups.append(cur)
    return [Chunk(merge_ranges(g), [int(index.pts[k]) for _, k in g]) for g in groups]


def run_chunks(args: tuple[Any, ...], index: PacketIndex, chunks: list[Chunk], workers: int,
               stats: Any) -> Iterator[tuple[float, float, Image.Image]]:
    """Yield (t from container start, raw frame time, image) for every kept frame, in order.

    ``args`` = (path, stream index, origin, sample aspect, rotation, max side). Raises
    PlanMismatch or DecodeFailed after yielding the frames before the problem.
    """
    origin = args[2]
    workers = min(workers, len(chunks))
    stats.workers = workers
    threads = max(1, default_workers() // workers)
    init = (*args, threads, index.pts, index.key, index.discard, index.time_base)
    pool = _Pool(workers, init, chunks, stats)
    try:
        for i in range(len(chunks)):
            result = pool.result(i)
            pool.add_decoded(result.decoded)
            stats.seeks += result.seeks
            for raw, size, data in result.frames:
                yield raw - origin, raw, Image.frombytes("RGB", size, data)
            if result.status == "mismatch":
                raise PlanMismatch(result.message)
            if result.status == "error":
                raise DecodeFailed(result.message)
    finally:
        pool.close()


class _Pool:
    """Worker processes, one feeding thread each; results are kept until taken, in order.

    Workers report packets decoded while a chunk runs; they are added to ``stats.decoded`` at
    once (a watchdog sees progress), the rest of a chunk's count when its result comes.
    """

    def __init__(self, workers: int, init: tuple[Any, ...], chunks: list[Chunk],
                 stats: Any) -> None:
        self.stats = stats
        self.counting = threading.Lock()
        self.tasks = iter(enumerate(chunks))
        self.results: dict[int, _Result] = {}
        self.cond = threading.Condition()
        # Chunks handed out and not yet taken by the caller: bounds memory.
        self.room = threading.Semaphore(2 * workers)
        self.stopped = False
        self.procs: list[subprocess.Popen[bytes]] = []
        try:
            for _ in range(workers):
                self.procs.append(subprocess.Popen(child_command(__name__),
                                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE))
        except OSError as exc:
            for proc in self.procs:
                proc.kill()
                proc.wait()
            raise WorkersUnavailable(str(exc)) from exc
        payload = pickle.dumps(init, protocol=pickle.HIGHEST_PROTOCOL)
        self.threads = [threading.Thread(target=self._feed, args=(p, payload), daemon=True)
                        for p in self.procs]
        for t in self.threads:
            t.start()

    def _feed(self, proc: subprocess.Popen[bytes], init: bytes) -> None:
        with contextlib.suppress(OSError):
            send_bytes(proc.stdin, init)
        while True:
            self.room.acquire()
            with self.cond:
                item = None if self.stopped else next(self.tasks, None)
            if item is None:
                self.room.release()
                return
            i, chunk = item
            try:
                send(proc.stdin, (chunk.spans, chunk.kept_pts))
                result = recv(proc.stdout)
                reported = 0
                while isinstance(result, tuple) and result[:1] == ("decoded",):
                    self.add_decoded(result[1])
                    reported += result[1]
                    result = recv(proc.stdout)
                if isinstance(result, _Result):
                    result.decoded -= reported
            except (OSError, EOFError, pickle.UnpicklingError) as exc:
                result = _Result(status="mismatch", message=f"worker failed ({exc})")
            if result is None:
                result = _Result(status="mismatch", message=f"worker exited ({proc.poll()})")
            with self.cond:
                self.results[i] = result
                self.cond.notify_all()

    def add_decoded(self, n: int) -> None:
        with self.counting:
            self.stats.decoded += n

    def result(self, i: int) -> _Result:
        with self.cond:
            self.cond.wait_for(lambda: i in self.results)
            result = self.results.pop(i)
        self.room.release()
        return result

    def close(self) -> None:
        with self.cond:
            self.stopped = True
        for _ in self.procs:
            self.room.release()
        for proc in self.procs:
            if proc.stdin:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # end of tasks: the worker exits after its chunk
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for t in self.threads:
            t.join(timeout=5)
        for proc in self.procs:
            if proc.stdout:
                proc.stdout.close()


def default_workers() -> int:
    """Decoding processes by default: one per core this process may use, at most 16."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 16))


def serve() -> None:
    """Worker process main loop: init, then one result per task until stdin closes. The
    parent handles Ctrl-C and SIGTERM and closes our stdin (or kills us); a parent that is
    gone ends the worker quietly."""
    ignore_stop_signals()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by a library goes to stderr, not into the results
    inp = sys.stdin.buffer
    try:
        init = recv(inp)
        if init is not None:
            _init(*init)
            while (task := recv(inp)) is not None:
                send(out, _work(*task, report=_Reporter(out)))
        out.flush()
    except OSError:  # our pipes broke: the parent is gone, nobody to report to
        os._exit(0)
    os._exit(0)


_state: dict[str, Any] = {}


def _init(path: str, stream_index: int, origin: float, sar: Fraction, rotation: int,
          max_side: int | None, threads: int, pts: np.ndarray, key: np.ndarray,
          discard: np.ndarray, time_base: Fraction) -> None:
    from av.video.reformatter import VideoReformatter

    index = PacketIndex(pts, key, discard, time_base)
    _state.update(path=path, stream_index=stream_index, sar=sar, rotation=rotation,
                  max_side=max_side, threads=threads, index=index, lookup=index.lookup(),
                  source=None, reformatter=VideoReformatter())


def _source() -> PacketSource:
    """This worker's open file: kept across chunks, which come in ascending order."""
    from .probe import open_container

    s = _state
    if s["source"] is None:
        path = s["path"]
        s["source"] = PacketSource(lambda: open_container(path, stage="sample"),
                                   s["stream_index"], s["index"], threads=s["threads"],
                                   lookup=s["lookup"])
    return s["source"]


class _Reporter:
    """Sends ``("decoded", n)`` for the packets decoded since the last report, at most a few
    times a second, while a chunk runs."""

    def __init__(self, out: Any, every: float = 0.25) -> None:
        self.out, self.every = out, every
        self.sent = 0
        self.last = time.monotonic()

    def __call__(self, decoded: int) -> None:
        now = time.monotonic()
        if decoded > self.sent and now - self.last >= self.every:
            send(self.out, ("decoded", decoded - self.sent))
            self.sent, self.last = decoded, now


def _work(spans: list[tuple[int, int]], kept_pts: list[int],
          report: Callable[[int], None] | None = None) -> _Result:
    import av

    s = _state
    result = _Result()
    try:
        for frame in decode_spans(_source(), spans, kept_pts, result):
            image = to_image(frame, s["sar"], s["rotation"], s["max_side"], s["reformatter"])
            result.frames.append((float(frame.time), image.size, image.tobytes()))
            if report is not None:
                report(result.decoded)
    except PlanMismatch as exc:
        result.status, result.message = "mismatch", str(exc)
    except (av.FFmpegError, ValueError, OSError) as exc:
        result.status, result.message = "error", str(exc) or type(exc).__name__
    except Exception as exc:  # never leave the parent waiting: report and let it fall back
        result.status, result.message = "mismatch", f"{type(exc).__name__}: {exc}"
    if result.status != "ok" and s["source"] is not None:
        s["source"].close()  # the decoder may be mid-span: start clean next time
        s["source"] = None
    return result
