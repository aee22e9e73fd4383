"""The one-file Python API, ``summarize()`` and ``ask()``, as the CLI does them.

``summarize`` writes the output files when ``output_dir`` or ``formats`` is given (the
writers are above the pipeline, so this lives here, not in ``pipeline/``): the file then goes
through the same path as a CLI run (output ownership, the run ledger). ``ask`` reads the
earlier run's model settings for the file from the ledger, so its cached captions and
transcript are found without repeating the model flags, and no model is loaded for them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..catalog.ledger import STAGE_OPTIONS, Ledger, default_ledger_path
from ..errors import ConfigError, InputError, StorageError
from ..inputs.urls import is_url
from ..options import Options
from ..pipeline import summarizer as pipeline
from ..pipeline.cache import Cache
from ..pipeline.results import Result
from .run import summarize_many

log = logging.getLogger(__name__)

# The result's ``settings`` names that give back options of the caption and transcript cache
# keys: the models as the backends resolved them.
EARLIER_SETTINGS = {"caption_model": "caption_model", "whisper_model": "whisper_model"}


def _writes(options: Options | None, option_values: dict[str, Any]) -> bool:
    if "output_dir" in option_values or "formats" in option_values:
        return True
    if options is None:
        return False
    defaults = Options()
    return (options.output_dir, options.formats) != (defaults.output_dir, defaults.formats)


def summarize(path: str | Path, *, captioner: Any = None, transcriber: Any = None,
              reasoner: Any = None, progress: pipeline.ProgressCallback | None = None,
              cache: Cache | None = None, options: Options | None = None,
              **option_values: Any) -> Result:
    """Summarize one video (or audio) file. Keyword options are the fields of ``Options``.

    With ``output_dir`` or ``formats`` (or an ``options`` that sets them), the output files
    are written as the CLI writes them and the file is recorded in the run ledger; a failed
    reasoning step still writes the captions and transcript, then is raised.
    """
    if not _writes(options, option_values):
        return pipeline.summarize(path, captioner=captioner, transcriber=transcriber,
                                  reasoner=reasoner, progress=progress, cache=cache,
                                  options=options, **option_values)
    opts = Options.from_kwargs(options, **option_values)
    worker = pipeline.Summarizer(opts, captioner=captioner, transcriber=transcriber,
                                 reasoner=reasoner, progress=progress, cache=cache)
    outcome = next(iter(summarize_many([path], summarizer=worker, force=True)))
    if outcome.error is not None:
        raise outcome.error
    if outcome.result is None:
        raise InputError(outcome.note or "the file was not summarized", path=str(path))
    return outcome.result


def ask(path: str | Path, question: str, *, captioner: Any = None, transcriber: Any = None,
        reasoner: Any = None, progress: pipeline.ProgressCallback | None = None,
        cache: Cache | None = None, options: Options | None = None,
        ledger: Ledger | Path | str | None = None, **option_values: Any) -> Result:
    """Answer ``question`` about one file from the captions and transcript of an earlier
    run: the model settings that run recorded in the ledger fill the options left at their
    defaults. ``Result.summary`` holds the answer."""
    opts = Options.from_kwargs(options, **option_values)
    if captioner is None or transcriber is None:
        opts = earlier_options(path, opts, ledger)
    return pipeline.ask(path, question, captioner=captioner, transcriber=transcriber,
                        reasoner=reasoner, progress=progress, cache=cache, options=opts)


def earlier_options(path: str | Path, opts: Options,
                    ledger: Ledger | Path | str | None = None) -> Options:
    """``opts`` with the caption and transcript settings of the newest earlier run of the
    same content (from the ledger) in place of those left at their defaults."""
    if is_url(path) or opts.no_cache or not Path(path).is_file():
        return opts
    book_path = None if isinstance(ledger, Ledger) else Path(
        ledger if ledger is not None else default_ledger_path(opts.cache_dir))
    if book_path is not None and not book_path.is_file():
        return opts
    try:
        content = Cache(opts.cache_dir).file_hash(path)
        book = ledger if isinstance(ledger, Ledger) else Ledger(book_path, create=False)
        try:
            entries = book.find_content(content) if content else []
        finally:
            if book is not ledger:
                book.close()
    except (OSError, StorageError, ConfigError) as exc:
        log.debug("no earlier run looked up for %s: %s", path, exc)
        return opts
    return _with_settings(opts, entries[0].settings) if entries else opts


def _with_settings(opts: Options, settings: dict[str, Any]) -> Options:
    """``opts`` with the recorded caption and transcript options (``STAGE_OPTIONS``, and the
    models as the backends resolved them) in place of those left at their defaults."""
    recorded = dict(settings.get(STAGE_OPTIONS) or {})
    recorded.update({option: settings[name] for name, option in EARLIER_SETTINGS.items()
                     if settings.get(name) is not None})
    defaults = Options()
    changes: dict[str, Any] = {}
    for name, value in recorded.items():
        if not hasattr(defaults, name) or getattr(opts, name) != getattr(defaults, name):
            continue  # an option the caller set wins
        value = tuple(value) if isinstance(value, list) else value
        if value != getattr(defaults, name):
            changes[name] = value
    if not changes:
        return opts
    log.info("ask: using the settings of the earlier run of this file: %s",
             ", ".join(f"{k}={v}" for k, v in sorted(changes.items())))
    try:
        return opts.replace(**changes)
    except ConfigError as exc:  # recorded by another version: ask with the options given
        log.debug("earlier settings not usable: %s", exc)
        return opts


__all__ = ["ask", "earlier_options", "summarize"]
