"""What runs on the Ray cluster: the summarizing workers and the one reasoning service.

Imported only where Ray is installed (by ``ray_executor`` on the driver, and by Ray in the
worker processes). Nothing here writes outputs or the ledger: the driver does, as in a local
batch.

- ``SummarizeWorker``: a long-lived actor holding a ``Summarizer`` whose captioner and
  transcriber load on first use and serve every later file. It reads the input itself, on its
  node (``file_hash`` and ``summarize``), so inputs must be on storage every node can read.
  One file at a time; ``file_hash`` and ``pid`` answer meanwhile (their own thread group).
- ``ReasoningService``: the reasoning backend, once for the whole cluster, taking at most
  ``max_concurrency`` calls at a time: the bound that keeps a batch under the LLM server's rate
  limit however many workers run. Workers reach it through ``RemoteReasoner``.

Errors cross the cluster as values, never as Ray task errors: a ``SummarizeVideoError`` as
itself (the partial result of a failed reasoning step included), anything else as
``RemoteFailure`` with its class name, message and traceback.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from ..errors import EXIT_USAGE, StorageError, SummarizeVideoError
from ..limits import Limits
from ..media.jobs import probe_file
from ..options import Options
from ..pipeline.cache import Cache, hash_file
from ..pipeline.results import Result
from ..reasoning.base import Completion, Message
from .batch import NOT_HASHED

# Concurrency group of the calls that may run while a worker summarizes a file.
SIDE = "side"


class RemoteFailure(Exception):
    """An unexpected error raised on a worker, carried back by name: its own class may not
    exist, or not unpickle, on the driver."""

    def __init__(self, original_type: str, message: str, remote_traceback: str = "") -> None:
        super().__init__(original_type, message, remote_traceback)
        self.original_type = original_type
        self.message = message
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        return self.message

    @classmethod
    def of(cls, exc: BaseException) -> RemoteFailure:
        failure = cls(type(exc).__name__, str(exc), traceback.format_exc())
        if hasattr(failure, "add_note"):  # shown under SUMMARIZE_VIDEO_DEBUG=1's traceback
            failure.add_note(f"on the Ray worker:\n{failure.remote_traceback}")
        return failure


@dataclass(frozen=True)
class FileDone:
    """A worker's answer for one file: the result or the error, and the seconds it took."""

    result: Result | None
    error: BaseException | None
    seconds: float
    # The worker process that did it.
    pid: int


@ray.remote(concurrency_groups={SIDE: 2})
class SummarizeWorker:
    """Summarizes files one at a time with models loaded once (see the module docstring)."""

    def __init__(self, options: Options, cache_dir: str | None, reasoning: str | None,
                 reasoner_info: dict[str, Any] | None, cwd: str) -> None:
        from ..pipeline.summarizer import Summarizer

        # Relative input paths are relative to the driver's folder: the same folder here when
        # it is on shared storage (results name inputs exactly as a local batch does).
        if os.path.isdir(cwd):
            os.chdir(cwd)

        reasoner = None
        if reasoning is not None and reasoner_info is not None:
            reasoner = RemoteReasoner(reasoning, reasoner_info)
        self.error: SummarizeVideoError | None = None
        self.working_on: str | None = None
        try:
            cache = Cache(cache_dir) if cache_dir is not None and not options.no_cache else None
            self.summarizer = Summarizer(options, reasoner=reasoner, cache=cache)
        except SummarizeVideoError as exc:  # a cache folder or prompt this node cannot read
            self.error = exc

    @ray.method(concurrency_group=SIDE)
    def ready(self) -> SummarizeVideoError | None:
        """None once the worker can take files; else why it cannot."""
        return self.error

    @ray.method(concurrency_group=SIDE)
    def pid(self) -> int:
        """This worker's process id (a restarted worker has a new one)."""
        return os.getpid()

    @ray.method(concurrency_group=SIDE)
    def current(self) -> str | None:
        """The input this worker is summarizing now; None when idle."""
        return self.working_on

    @ray.method(concurrency_group=SIDE)
    def file_hash(self, path: str) -> str | None:
        """SHA-256 of a file, read on this node (remembered by the cache); None if unreadable,
        ``NOT_HASHED`` when the probe refuses it first (junk is not read to its end)."""
        try:
            cache = self.summarizer.cache
            if not _hash_known(cache, path) and not _probe_passes(path, self.summarizer.options):
                return NOT_HASHED  # the pipeline reports why, as this file's failure
            return cache.file_hash(path) if cache is not None else hash_file(path)
        except (OSError, StorageError):
            return None  # the pipeline reports why, as this file's failure

    def summarize(self, path: str, url: str | None) -> FileDone:
        started = time.perf_counter()
        result: Result | None = None
        error: BaseException | None = None
        self.working_on = url or path
        try:
            result = self.summarizer.run(url or path)
        except SummarizeVideoError as exc:
            error = exc
        except Exception as exc:
            error = RemoteFailure.of(exc)
        finally:
            self.working_on = None
        return FileDone(result, error, time.perf_counter() - started, os.getpid())


@ray.remote(num_cpus=0)
class ReasoningService:
    """The reasoning backend the options name, for every worker (threads: max_concurrency)."""

    def __init__(self, options: Options) -> None:
        from ..pipeline.reasoning_step import build_reasoner

        self.default_backend = options.reasoner
        self.reasoner: Any = None
        self.error: SummarizeVideoError | None = None
        self.working_on: str | None = None
        try:
            self.reasoner = build_reasoner(options)
        except SummarizeVideoError as exc:
            self.error = exc

    def describe(self) -> dict[str, Any]:
        """What a worker's stand-in needs: names, output budgets, the provenance record; or
        ``{"error": ...}`` when the backend could not be made here."""
        from ..pipeline.provenance import model_record

        if self.error is not None:
            return {"error": self.error}
        r = self.reasoner
        return {
            "model_id": r.model_id,
            "backend": getattr(r, "backend", None),
            "max_output_tokens": getattr(r, "max_output_tokens", None),
            "max_new_tokens": getattr(r, "max_new_tokens", None),
            "revision": getattr(r, "revision", None),
            "provenance": model_record(r, self.default_backend),
        }

    def complete(self, messages: list[Message], max_output_tokens: int | None,
                 json_mode: bool) -> tuple[Completion | None, BaseException | None,
                                           dict[str, Any]]:
        """One completion, or the error it raised; then the provenance record, which names
        the loaded weights' revision once a local model has loaded."""
        from ..pipeline.provenance import model_record
        from ..reasoning.synthesis import complete_with

        completion: Completion | None = None
        error: BaseException | None = None
        try:
            if max_output_tokens is None:
                completion = self.reasoner.complete(messages)
            else:
                completion = complete_with(self.reasoner, messages, max_output_tokens,
                                           json_mode)
        except SummarizeVideoError as exc:
            error = exc
        except Exception as exc:
            error = RemoteFailure.of(exc)
        return completion, error, model_record(self.reasoner, self.default_backend)


class RemoteReasoner:
    """The reasoning service as a worker's ``Summarizer`` sees it: the real backend's names,
    budgets and provenance, and ``complete`` answered by the service (named ``service``: an
    actor handle among a restartable actor's arguments could not be restored with it)."""

    def __init__(self, service: str, info: dict[str, Any]) -> None:
        self._name = service
        self._service: Any = None
        self.model_id: str = info["model_id"]
        self.backend: str | None = info["backend"]
        self.max_output_tokens: int | None = info["max_output_tokens"]
        self.max_new_tokens: int | None = info["max_new_tokens"]
        self.revision: str | None = info["revision"]
        self.provenance_model: dict[str, Any] = info["provenance"]

    def complete(self, messages: Sequence[Message], *, max_output_tokens: int | None = None,
                 json_mode: bool = False) -> Completion:
        if self._service is None:
            self._service = ray.get_actor(self._name)
        completion, error, record = ray.get(
            self._service.complete.remote(list(messages), max_output_tokens, json_mode))
        self.provenance_model = record
        if error is not None:
            raise error
        assert completion is not None
        return completion


def _hash_known(cache: Cache | None, path: str) -> bool:
    """Whether the cache remembers the file's hash for its present size and time."""
    try:
        return cache is not None and cache.known_hash(Path(path)) is not None
    except (OSError, StorageError):
        return False


def _probe_passes(path: str, options: Options) -> bool:
    """Whether the probe takes the file (as the local executor asks before hashing); a usage
    error is left to the summarizer, which stops the run with it."""
    try:
        probe_file(Path(path), Limits.from_options(options), options.decode_timeout or None)
    except SummarizeVideoError as exc:
        return exc.exit_code == EXIT_USAGE  # the summarizer reports that one, as the run's
    return True
