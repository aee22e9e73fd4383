"""Whether an existing output file carries the marks of this tool's writers.

Used when the ledger has no record of a file (an older ledger, another ``--ledger``): the JSON
names the tool in its provenance block, the HTML report in its generator meta tag, the
Markdown ends with the settings footer. Captions, chapters and plain text carry no mark: only
the ledger can vouch for them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

TOOL = "summarize-video"
# Large enough for any summary this tool writes; a bigger file is not read to be judged.
MAX_READ = 64 * 1024 * 1024
_MD_FOOTER = re.compile(r"^Captions: .* · transcript: .* · summary: .* tokens in, \d+ out$")


def carries_mark(path: Path) -> bool:
    """Whether ``path`` looks written by this tool (False when it cannot be read)."""
    name = path.name
    try:
        if path.stat().st_size > MAX_READ:
            return False
        if name.endswith(".summary.json"):
            data = json.loads(path.read_text(encoding="utf-8"))
            tool = data.get("provenance", {}).get("tool", {}) if isinstance(data, dict) else {}
            return isinstance(tool, dict) and tool.get("name") == TOOL
        if name.endswith(".summary.html"):
            head = path.read_text(encoding="utf-8", errors="replace")[:4096]
            return f'<meta name="generator" content="{TOOL} ' in head
        if name.endswith(".summary.md"):
            tail = path.read_text(encoding="utf-8", errors="replace").rstrip("\n")
            return bool(_MD_FOOTER.match(tail.rsplit("\n", 1)[-1]))
    except (OSError, ValueError, AttributeError):
        return False
    return False
