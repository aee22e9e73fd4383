"""How the package talks to its child processes: length-prefixed pickles over pipes.

Every child (a watched decoding job, a frame-decoding worker) is started with
``child_command(module)`` and speaks this framing on its stdin and stdout: an 8-byte
little-endian length, then that many bytes of pickle. End of stream reads as ``None``.
"""

from __future__ import annotations

import pickle
import signal
import struct
import sys
from pathlib import Path
from typing import Any

_HEAD = struct.Struct("<Q")


def send(stream: Any, obj: Any) -> None:
    """Write one message (pickled ``obj``) and flush."""
    send_bytes(stream, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def send_bytes(stream: Any, data: bytes) -> None:
    """Write one message whose pickle is already made (to send the same one to many)."""
    stream.write(_HEAD.pack(len(data)))
    stream.write(data)
    stream.flush()


def recv(stream: Any) -> Any:
    """The next message, or None when the stream ends (or is cut) before a whole one."""
    head = stream.read(_HEAD.size)
    if len(head) < _HEAD.size:
        return None
    (size,) = _HEAD.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def child_command(module: str) -> list[str]:
    """The command that starts a child running ``module``'s ``serve()``, importing this very
    copy of the package (not whatever another path would find)."""
    root = str(Path(__file__).resolve().parents[2])
    boot = f"import sys; sys.path.insert(0, sys.argv[1]); from {module} import serve; serve()"
    return [sys.executable, "-c", boot, root]


def ignore_stop_signals() -> None:
    """In a child: leave Ctrl-C and SIGTERM (sent to a whole process group by a terminal or a
    service manager) to the parent, which stops its children itself."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
