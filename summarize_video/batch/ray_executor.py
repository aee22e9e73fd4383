"""The Ray executor: a batch's files summarized across a Ray cluster, with the same outcomes,
output files and ledger as a local batch.

The driver (this process) keeps everything a local batch decides: discovery and its order,
output names, the ledger (skips, records) and the writing of outputs, through the same
``batch.Batch``. The cluster does the work on the files (``summarize_video.batch.ray_actors``):

- a pool of ``SummarizeWorker`` actors, one CPU each and one GPU each when the cluster has
  GPUs (default: one worker per GPU, else one per CPU); each loads its captioner and
  transcriber once and reads, samples and transcribes the files it is given on its own node;
- one ``ReasoningService`` taking at most ``llm_concurrency`` reasoning calls at a time, for
  the whole cluster, so that a batch stays under the LLM server's rate limit.

Each file goes to an idle worker, one at a time per worker; the content hash the ledger needs
is computed by a worker too, so the driver never reads the inputs' bytes. Outcomes are
yielded, and outputs written, in input order. A worker that dies is restarted by Ray (on the
same node or another; it takes files again once it answers ``ready``) and the file it was
summarizing goes back in the queue, to the next idle worker anywhere, up to ``FILE_RETRIES``
times; a file that kills its worker every time fails (exit 1, recorded as failed, retried by a
rerun) while the rest go on. Workers hold no API key: only the reasoning service does.
Nothing is written or recorded for a file until its result is back on the driver, so a file
is never lost, written twice or recorded twice. Ctrl-C stops the workers and
abandons the files not yet written, as a local batch does.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..errors import ConfigError, SummarizeVideoError
from ..inputs.discovery import Input
from ..pipeline.results import Result
from .batch import Batch, Outcome

log = logging.getLogger(__name__)

RAY_EXTRA = 'pip install "summarize-video[ray]"'
# Reasoning calls in flight at a time across the cluster.
DEFAULT_LLM_CONCURRENCY = 4
# Times a file is redone after its worker died while summarizing it; then it fails.
FILE_RETRIES = 2
# Files taken on (hashed, queued, running, or waiting to be written in order) per worker.
AHEAD_PER_WORKER = 4
# Times in a row a worker may die before it is up; then the batch stops (a configuration error).
START_ATTEMPTS = 5
# Longest wait with no worker up: for the first to start, or for one to come back when all
# have died (the cluster may be busy, or autoscaling); then the batch stops.
START_TIMEOUT_S = 900.0
# Worker actors are named NAME_PREFIX + run id + "-" + number (``ray list actors`` shows them).
NAME_PREFIX = "summarize-video-worker-"


def require_ray() -> ModuleType:
    """The ``ray`` module, or a ConfigError naming what to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray executor needs Ray, which is not installed", stage="ray",
                          hint=RAY_EXTRA) from None
    return ray


def run_on_ray(batch: Batch, inputs: Sequence[Input], *, address: str | None = None,
               workers: int | None = None, llm_concurrency: int | None = None
               ) -> Iterator[Outcome]:
    """Yield the outcome of each input, in order, summarized on the cluster at ``address``."""
    if batch.summarizer.given_backends:
        raise ConfigError(
            f"backends passed as objects ({', '.join(batch.summarizer.given_backends)}) run "
            "only with the local executor", stage="ray",
            hint="name the models in the options, or use the local executor")
    if workers is not None and workers < 1:
        raise ConfigError("ray workers must be at least 1", stage="options")
    if llm_concurrency is not None and llm_concurrency < 1:
        raise ConfigError("LLM concurrency must be at least 1", stage="options")
    cluster = _Cluster(require_ray(), batch, address)
    try:
        cluster.start(workers, llm_concurrency or DEFAULT_LLM_CONCURRENCY)
        yield from _Scheduler(cluster, batch, inputs).outcomes_in_order()
    finally:
        cluster.close()


class _Cluster:
    """The connection, the reasoning service and the workers of one batch."""

    def __init__(self, ray: ModuleType, batch: Batch, address: str | None) -> None:
        self.ray = ray
        self.batch = batch
        self.workers: list[Any] = []
        self.service: Any = None
        self.connected_here = not ray.is_initialized()
        if not self.connected_here:
            if address:
                log.info("Ray is already initialized in this process; ignoring %s", address)
            return
        settings: dict[str, Any] = {
            "address": address, "logging_level": logging.ERROR,
            # Workers' own logs are shown with -v only; their errors come back as outcomes.
            "log_to_driver": logging.getLogger("summarize_video").isEnabledFor(logging.INFO),
        }
        if not (address or os.environ.get("RAY_ADDRESS")):
            settings["include_dashboard"] = False  # a private instance on this machine
        try:
            ray.init(**settings)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or os.environ.get("RAY_ADDRESS") or "this machine"
            raise ConfigError(f"cannot connect to the Ray cluster at {where}: "
                              f"{' '.join(str(exc).split())[:300]}", stage="ray",
                              hint="pass --ray-address HOST:PORT of a running head node "
                              "(`ray start --head`), or 'auto' on one of its nodes") from None

    def start(self, workers: int | None, llm_concurrency: int) -> None:
        from .ray_actors import ReasoningService, SummarizeWorker

        ray, opts = self.ray, self.batch.options
        summarizer = self.batch.summarizer
        run_id = os.urandom(4).hex()
        service_name = f"summarize-video-reasoning-{run_id}"
        info = None
        if summarizer.reasoner is not None:
            # The key and server URL as the driver resolved them: nodes lack its environment.
            service_options = opts.replace(
                api_key=opts.api_key or os.environ.get("OPENAI_API_KEY") or None,
                base_url=opts.base_url or os.environ.get("OPENAI_BASE_URL") or None)
            self.service = ReasoningService.options(
                name=service_name, max_concurrency=llm_concurrency, max_restarts=-1,
                max_task_retries=3,
            ).remote(service_options)
            info = ray.get(self.service.describe.remote())
            if "error" in info:
                raise info["error"]
        resources = ray.cluster_resources()
        gpus = resources.get("GPU", 0.0) if opts.device in ("auto", "cuda") else 0.0
        count = workers or (int(gpus) if gpus >= 1 else max(1, int(resources.get("CPU", 1))))
        if count > resources.get("CPU", 0):
            log.warning("%d workers asked for and the cluster has %g CPUs: the others start "
                        "when CPUs free up", count, resources.get("CPU", 0))
        num_gpus = min(1.0, gpus / count) if gpus else 0
        cache_dir = str(summarizer.cache.folder) if summarizer.cache is not None else None
        # Workers reach the LLM through the service only: they never hold the API key.
        worker_options = opts.replace(api_key=None)
        for i in range(count):
            self.workers.append(SummarizeWorker.options(
                name=f"{NAME_PREFIX}{run_id}-{i}", num_cpus=1, num_gpus=num_gpus,
                max_restarts=-1, max_task_retries=0,
            ).remote(worker_options, cache_dir, service_name if info else None, info, os.getcwd()))
        log.info("Ray executor: %d worker(s), %g GPU each, %d reasoning call(s) at a time",
                 count, num_gpus, llm_concurrency)

    def close(self) -> None:
        """Stop the workers and the service; disconnect when this batch connected."""
        for actor in [*self.workers, self.service]:
            if actor is not None:
                try:
                    self.ray.kill(actor)
                except Exception:  # already gone, or the cluster is
                    log.debug("could not stop %s", actor, exc_info=True)
        if self.connected_here:
            self.ray.shutdown()


@dataclass
class _File:
    index: int
    item: Input
    content_hash: str | None = None
    # Times a worker died while hashing, and while summarizing, this file.
    hash_attempts: int = 0
    attempts: int = 0


class _Scheduler:
    """Hands the files to idle workers and gives back their outcomes in input order."""

    def __init__(self, cluster: _Cluster, batch: Batch, inputs: Sequence[Input]) -> None:
        self.ray, self.batch, self.inputs = cluster.ray, batch, inputs
        self.total = len(inputs)
        self.ahead = AHEAD_PER_WORKER * len(cluster.workers)
        self.calls: dict[Any, tuple[str, Any, _File | None]] = {}
        for worker in cluster.workers:
            self.calls[worker.ready.remote()] = ("ready", worker, None)
        self.ready: list[Any] = []  # workers up (busy or idle)
        self.idle: list[Any] = []
        self.to_hash: deque[_File] = deque()
        self.hashing: set[int] = set()  # files taken on, not hashed yet
        self.to_run: list[tuple[int, _File]] = []  # a heap: the earliest input first
        self.outcomes: dict[int, Any] = {}  # index -> Outcome, or a thunk that writes it
        self.turn = itertools.count()
        self.next_in = self.next_out = 0
        self.deadline = time.monotonic() + START_TIMEOUT_S
        self.starts: dict[Any, int] = {}  # worker -> times in a row it died before ready

    def outcomes_in_order(self) -> Iterator[Outcome]:
        progress = self.batch.summarizer.progress
        progress("files", 0, self.total)
        while self.next_out < self.total:
            self._take_on()
            self._dispatch()
            while self.next_out in self.outcomes:
                got = self.outcomes.pop(self.next_out)
                outcome = got if isinstance(got, Outcome) else got()
                self.next_out += 1
                yield outcome
                progress("files", self.next_out, self.total)
            if self.next_out >= self.total:
                break
            self._wait()
        progress("files", self.total, self.total)

    def _take_on(self) -> None:
        """Take on the next files, up to ``ahead`` beyond the first not yet given back."""
        while self.next_in < min(self.total, self.next_out + self.ahead):
            f = _File(self.next_in, self.inputs[self.next_in])
            self.next_in += 1
            if f.item.error is not None:
                self.outcomes[f.index] = Outcome(f.item.path, error=f.item.error,
                                                 url=f.item.url)
            elif self.batch.resumable and f.item.url is None:
                self.to_hash.append(f)
                self.hashing.add(f.index)
            else:
                heapq.heappush(self.to_run, (f.index, f))

    def _dispatch(self) -> None:
        """Hashes to workers that are up; files to idle workers, in input order (a file
        waits for the files before it to be hashed)."""
        while self.to_hash and self.ready:
            f = self.to_hash.popleft()
            worker = self.ready[next(self.turn) % len(self.ready)]
            self.calls[worker.file_hash.remote(os.path.abspath(f.item.path))] = (
                "hash", worker, f)
        while self.to_run and self.idle and (
                not self.hashing or self.to_run[0][0] < min(self.hashing)):
            f, worker = heapq.heappop(self.to_run)[1], self.idle.pop()
            self.calls[worker.summarize.remote(str(f.item.path), f.item.url)] = (
                "run", worker, f)

    def _wait(self) -> None:
        """Wait for the next answer of any worker and act on it."""
        from ray.exceptions import RayActorError

        timeout = None if self.ready else max(0.0, self.deadline - time.monotonic())
        done, _ = self.ray.wait(list(self.calls), num_returns=1, timeout=timeout)
        if not done:
            raise ConfigError(f"no Ray worker was up for {START_TIMEOUT_S:.0f} s",
                              stage="ray", hint="each worker needs a free CPU (and a GPU on "
                              "GPU clusters): pass fewer --ray-workers or add nodes")
        for ref in done:
            kind, worker, f = self.calls.pop(ref)
            try:
                answer = self.ray.get(ref)
            except RayActorError as exc:
                log.debug("worker %s stopped", worker, exc_info=True)
                self._died(kind, worker, f, exc)
                continue
            self._answered(kind, worker, f, answer)

    def _answered(self, kind: str, worker: Any, f: _File | None, answer: Any) -> None:
        if kind == "ready":
            if answer is not None:
                raise answer  # the worker cannot work here: a configuration error
            self.starts.pop(worker, None)
            self.ready.append(worker)
            self.idle.append(worker)
        elif kind == "hash" and f is not None:
            self._hashed(f, answer)
        elif f is not None:
            self.idle.append(worker)
            self.outcomes[f.index] = functools.partial(_finish, self.batch, f, answer)

    def _died(self, kind: str, worker: Any, f: _File | None, exc: BaseException) -> None:
        """A worker died while ``kind`` ran: Ray restarts it (here or on another node); its
        work goes to another worker, up to ``FILE_RETRIES`` times per file."""
        self._restarting(worker)
        if kind == "ready":  # it died before answering: ask again once it is back
            self.starts[worker] = self.starts.get(worker, 0) + 1
            if self.starts[worker] > START_ATTEMPTS:
                raise ConfigError(f"a Ray worker could not start: "
                                  f"{' '.join(str(exc).split())[:300]}", stage="ray",
                                  hint="-v shows the workers' logs") from None
            time.sleep(0.2)
        elif kind == "hash" and f is not None:
            f.hash_attempts += 1
            if f.hash_attempts <= FILE_RETRIES:
                self.to_hash.appendleft(f)
            else:  # read here, then
                self._hashed(f, self.batch.content_hash(f.item))
        elif f is not None:
            f.attempts += 1
            if f.attempts <= FILE_RETRIES:  # to the next idle worker, anywhere
                log.warning("%s: its worker stopped; summarizing it again", f.item.path)
                heapq.heappush(self.to_run, (f.index, f))
            else:
                self.outcomes[f.index] = functools.partial(_lost, self.batch, f, exc)

    def _restarting(self, worker: Any) -> None:
        """A worker died: it takes files again once its ``ready`` answers."""
        if worker in self.ready:
            self.ready.remove(worker)
            if not self.ready:
                self.deadline = time.monotonic() + START_TIMEOUT_S
        if worker in self.idle:
            self.idle.remove(worker)
        if not any(w is worker and k == "ready" for k, w, _ in self.calls.values()):
            self.calls[worker.ready.remote()] = ("ready", worker, None)

    def _hashed(self, f: _File, content_hash: str | None) -> None:
        """A file's content hash is known: it is a skip, or it waits for a worker."""
        f.content_hash = content_hash
        self.hashing.discard(f.index)
        skipped = self.batch.done_before(f.item, content_hash)
        if skipped is not None:
            self.outcomes[f.index] = skipped
        else:
            heapq.heappush(self.to_run, (f.index, f))


def _finish(batch: Batch, f: _File, done: Any) -> Outcome:
    """A file's outcome from its worker's answer: written and recorded as a local batch does,
    unless a file of the same content finished meanwhile makes it a skip, as it would be."""
    skipped = batch.done_before(f.item, f.content_hash)
    if skipped is not None:
        return skipped
    return batch.finish(f.item, f.content_hash, functools.partial(_unpack, done),
                        time.perf_counter() - done.seconds)


def _lost(batch: Batch, f: _File, exc: BaseException) -> Outcome:
    """The outcome of a file whose worker died on every attempt: failed, retried by a rerun."""
    lost = SummarizeVideoError(
        f"its worker stopped {FILE_RETRIES + 1} times while summarizing it (killed, out "
        f"of memory, or a crash in a native library: {type(exc).__name__})",
        path=str(f.item.path), stage="worker",
        hint="rerun to retry it; -v shows the workers' logs")
    return batch.finish(f.item, f.content_hash, functools.partial(_raise, lost),
                        time.perf_counter())


def _unpack(done: Any) -> Result:
    if done.error is not None:
        raise done.error
    return done.result


def _raise(error: BaseException) -> Result:
    raise error
