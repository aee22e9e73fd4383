"""``summarize-video config``: the effective settings and where each one came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..errors import EXIT_OK
from ..options import SECRETS
from ..redaction import redact_text
from .config import DEFAULT_SOURCE, ENV_PREFIX, FIELDS, config_path
from .flags import resolved_options


def show_config(values: dict[str, Any], path_only: bool) -> int:
    """Print the config file's path, then every option, its value and its source: a table on
    a terminal, ``key = value  # source`` lines otherwise. Secrets show as set or not set."""
    path = config_path()
    if path_only:
        click.echo(str(path))
        return EXIT_OK
    options, sources = resolved_options(values)
    rows = [(name, shown(name, getattr(options, name), sources[name]), sources[name])
            for name in FIELDS]
    state = "found" if path.is_file() else "not found"
    note = (f"precedence: flags, then environment ({ENV_PREFIX}<OPTION>), then the config "
            "file, then defaults")
    out = Console(soft_wrap=True)
    if out.is_terminal:
        table = Table(title=Text(f"config file: {path} ({state})"), caption=Text(note))
        for column in ("option", "value", "source"):
            table.add_column(column)
        for name, value, source in rows:
            style = "dim" if source == DEFAULT_SOURCE else None
            table.add_row(Text(name), Text(value), Text(source), style=style)
        out.print(table)
        return EXIT_OK
    click.echo(f"# config file: {path} ({state})")
    click.echo(f"# {note}")
    for name, value, source in rows:
        click.echo(f"{name} = {value}  # {source}")
    return EXIT_OK


def shown(name: str, value: Any, source: str) -> str:
    """A value as TOML-like text; a secret only as ``set`` or ``not set``, and a URL's
    ``user:password@`` (``base_url``'s, wherever it came from) as ``***@``."""
    if name in SECRETS:
        return "set" if value and source != DEFAULT_SOURCE else "not set"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, Path)):
        return json.dumps(redact_text(str(value)))
    if isinstance(value, tuple):
        return json.dumps([redact_text(str(v)) for v in value])
    return str(value)
