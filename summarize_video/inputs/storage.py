"""Inputs named as URIs: ``file://`` is a local path; other storage schemes need a mount.

Every executor reads inputs as files: the local one on this machine, the Ray one on whichever
node runs the file, so on a cluster an input must be a path every node can read (a shared
file system mounted at the same place everywhere). ``file:///data/talk.mp4`` is the path
``/data/talk.mp4``. Object-store URIs (``s3://``, ``gs://``, ``az://``...) are not read
directly: mount the bucket on every node (s3fs, gcsfuse, blobfuse2, mountpoint-s3) and pass
the mounted path, or pass a presigned ``https://`` URL. How they would be read natively,
through fsspec, is in the README ("Object storage").
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from ..errors import InputError

_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*)://", re.IGNORECASE)
MOUNT_HINT = ("mount the storage where every machine can read it (s3fs, gcsfuse, blobfuse2, "
              "mountpoint-s3) and pass the mounted path, or pass a presigned https:// URL")


def uri_scheme(value: object) -> str | None:
    """The lower-cased scheme of a ``scheme://...`` string; None for paths (and ``Path``s)."""
    if not isinstance(value, str):
        return None
    match = _SCHEME.match(value.strip())
    return match.group(1).lower() if match else None


def file_uri_path(uri: str) -> Path:
    """The local path a ``file://`` URI names (percent-escapes decoded); an ``InputError`` for
    one that names another machine (``file://host/...``)."""
    parsed = urlparse(uri.strip())
    if parsed.netloc not in ("", "localhost"):
        raise InputError(f"file:// URI names another machine ({parsed.netloc})",
                         path=uri.strip(), stage="input",
                         hint="use file:///path (three slashes) for a path on this machine")
    return Path(url2pathname(parsed.path))


def unsupported_uri(uri: str, scheme: str) -> InputError:
    """The error for an input URI whose scheme no executor reads."""
    return InputError(f"{scheme}:// inputs are not read directly", path=uri.strip(),
                      stage="input", hint=MOUNT_HINT)
