"""Where settings come from: flags, then ``SUMMARIZE_VIDEO_*`` environment variables, then the
TOML config file, then the defaults in ``Options``.

The config file's keys are the ``Options`` field names (``interval = 2``, ``formats = ["json"]``)
and it may hold a ``[prices."model"]`` table (see ``cost.load_prices``). Every option can also
be set as ``SUMMARIZE_VIDEO_<FIELD>`` (``SUMMARIZE_VIDEO_INTERVAL=2``); ``OPENAI_API_KEY`` and
``OPENAI_BASE_URL`` are read for ``api_key`` and ``base_url`` when their own variables are not
set. Values are converted by the field's type and checked one at a time, by the flags' ranges
and ``Options``' own checks (finite numbers in their ranges, see ``options.NUMBER_RANGES``), so
a bad one is reported with its key, where it came from and what it may be. The library's
``summarize()`` reads none of this: only the CLI (and callers of ``resolve``) do.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import sys
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..options import NUMBER_RANGES, SECRETS, Options, describe_range
from ..redaction import redact_text

CONFIG_ENV = "SUMMARIZE_VIDEO_CONFIG"
ENV_PREFIX = "SUMMARIZE_VIDEO_"
APP_DIR = "summarize-video"
CONFIG_NAME = "config.toml"
PRICES_TABLE = "prices"
# Options whose values are never printed, logged or written.
# Variables the OpenAI client reads too; used when SUMMARIZE_VIDEO_<FIELD> is not set.
FALLBACK_ENV = {"api_key": "OPENAI_API_KEY", "base_url": "OPENAI_BASE_URL"}
DEFAULT_SOURCE = "default"
FLAG_SOURCE = "flag"

FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Options))
_HINTS = typing.get_type_hints(Options)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NONE = {"", "none", "null"}

# A check takes a converted value and raises ValueError with a reason when it is out of range.
Check = Callable[[Any], object]


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$SUMMARIZE_VIDEO_CONFIG``, else ``config.toml`` in the platform's user config folder."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    if sys.platform == "win32":
        base = Path(env.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / APP_DIR / CONFIG_NAME


def load_config(path: Path, *, required: bool = False) -> dict[str, Any]:
    """The config file's table, its keys checked; ``{}`` when the file does not exist (an
    error instead when ``required``: a file named by ``$SUMMARIZE_VIDEO_CONFIG``)."""
    where = f"config file {path}"
    if not path.exists():
        if required:
            raise ConfigError(f"{where} not found", hint=f"create it or unset {CONFIG_ENV}")
        return {}
    try:  # standard library from Python 3.11; imported here so the module loads on 3.10
        import tomllib
    except ImportError:  # pragma: no cover
        raise ConfigError(f"reading {where} needs Python 3.11 or later") from None
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read {where}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from None
    for key in data:
        if key not in FIELDS and key != PRICES_TABLE:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else \
                "keys are option names; `summarize-video config` lists them"
            raise ConfigError(f"unknown key {key!r} in {where}", hint=hint)
    return data


def env_values(environ: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Option name -> (text, variable) for every option set in the environment. Empty
    variables count as unset; other ``SUMMARIZE_VIDEO_*`` variables are not options."""
    env = os.environ if environ is None else environ
    found: dict[str, tuple[str, str]] = {}
    for name in FIELDS:
        for var in (ENV_PREFIX + name.upper(), FALLBACK_ENV.get(name)):
            if var and env.get(var, "").strip():
                found[name] = (env[var], var)
                break
    return found


def convert(name: str, value: Any, *, text: bool) -> Any:
    """``value`` as option ``name``'s type: from an environment string (``text``) or a TOML
    value. Raises ValueError with the reason (never echoing a secret)."""
    base, optional = _base_type(_HINTS[name])
    secret = name in SECRETS
    shown = "" if secret else f", got {redact_text(repr(value))}"
    if isinstance(value, str) and optional and value.strip().lower() in _NONE:
        return None
    if text:
        value = value.strip() if base is not str else value
    if base is bool:
        if isinstance(value, bool):
            return value
        if text and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError(f"expected true or false{shown}")
    if base is int:
        if text:
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"expected a whole number{shown}") from None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"expected a whole number{shown}")
    if base is float:
        number = value
        if text:
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"expected a number{shown}") from None
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ValueError(f"expected a number{shown}")
        if not math.isfinite(number):
            bounds = NUMBER_RANGES.get(name)
            wanted = describe_range(*bounds) if bounds else "a finite number"
            raise ValueError(f"expected {wanted}{shown}")
        return float(number)
    if base is tuple:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError(f"expected a list of strings{shown}")
    if not isinstance(value, str):
        raise ValueError(f"expected a string{shown}")
    return Path(value).expanduser() if base is Path else value


def resolve(
    cli_values: Mapping[str, Any],
    explicitly_set: set[str],
    *,
    environ: Mapping[str, str] | None = None,
    path: Path | None = None,
    checks: Mapping[str, Check] | None = None,
) -> tuple[Options, dict[str, str]]:
    """The options of a run and where each value came from: ``"flag"``, ``"env VAR"``,
    ``"config FILE"`` or ``"default"``.

    Only the names in ``explicitly_set`` override (flags the user typed, not click's
    defaults). ``path`` defaults to ``config_path()``; ``checks`` (option name -> check) add
    the CLI's range and choice rules to values from the environment and the file.
    """
    env = os.environ if environ is None else environ
    if path is None:
        path = config_path(env)
        data = load_config(path, required=bool(env.get(CONFIG_ENV)))
    else:
        data = load_config(path, required=True)
    values: dict[str, Any] = {}
    sources = dict.fromkeys(FIELDS, DEFAULT_SOURCE)
    where = f"config {path}"
    for name, raw in data.items():
        if name != PRICES_TABLE:
            values[name] = _checked(name, raw, where, checks, text=False)
            sources[name] = where
    if PRICES_TABLE in data and "prices_file" not in data:
        from ..pipeline.cost import load_prices

        load_prices(path)  # report a bad [prices] table now, naming the file
        values["prices_file"] = path
        sources["prices_file"] = f"{where} [{PRICES_TABLE}]"
    for name, (raw, var) in env_values(env).items():
        values[name] = _checked(name, raw, f"env {var}", checks, text=True)
        sources[name] = f"env {var}"
    for name in explicitly_set:
        if name in cli_values:
            values[name] = cli_values[name]
            sources[name] = FLAG_SOURCE
    return Options.from_kwargs(**values), sources


def _checked(name: str, raw: Any, source: str, checks: Mapping[str, Check] | None, *,
             text: bool) -> Any:
    """One value converted and validated on its own, or a ConfigError naming it and its
    source."""
    try:
        value = convert(name, raw, text=text)
        if checks and name in checks and value is not None and name not in SECRETS:
            checks[name](value)
        Options.from_kwargs(**{name: value})
    except ConfigError as exc:
        raise ConfigError(f"bad {name} in {source}: {exc.message}", hint=exc.hint) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"bad {name} in {source}: {exc}") from None
    return value


def _base_type(hint: Any) -> tuple[type, bool]:
    """``int | None`` -> (int, True); ``tuple[str, ...]`` -> (tuple, False)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        base, _ = _base_type(inner[0])
        return base, True
    origin = typing.get_origin(hint)
    return (origin or hint), False
