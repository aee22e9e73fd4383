"""The API key never shows: not in outputs, logs, caches, ledgers, error messages or tracebacks.

Every command runs in a real child process with the sentinel key in the environment and in the
config file, verbose logging, the ``openai`` library's debug logging and (for one run) the
debug re-raise on; then everything it printed and every file it left is scanned. The whole
suite also runs with the sentinel set (``tests/secrets_scan.py``, ``conftest.py``).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from summarize_video.testing.chat_server import ChatServer
from summarize_video.testing.media_site import MediaSite
from tests import secrets_scan
from tests.clips import make_clip
from tests.secrets_scan import SENTINEL, leaking_files, leaks, url_with_key
from tests.support import cli_args


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "summarize_video", *args], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def world(tmp_path: Path, empty_config: Path) -> dict[str, object]:
    """Folders, a clip, and the environment of a user whose key is set everywhere."""
    assert SENTINEL in empty_config.read_text()  # conftest put it there
    (tmp_path / "in").mkdir()
    make_clip(tmp_path / "in" / "a.mp4", seconds=2.0, fps=10)
    (tmp_path / "in" / "broken.mp4").write_bytes(b"\0" * 4096)
    env = dict(os.environ, OPENAI_API_KEY=SENTINEL, OPENAI_LOG="debug",
               SUMMARIZE_VIDEO_CONFIG=str(empty_config),
               SUMMARIZE_VIDEO_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("SUMMARIZE_VIDEO_DEBUG", None)
    return {"root": tmp_path, "env": env}


def scan(world: dict[str, object], runs: list[subprocess.CompletedProcess[str]]) -> None:
    root = world["root"]
    assert isinstance(root, Path)
    for done in runs:
        assert not leaks(done.stdout), done.args
        assert not leaks(done.stderr), done.args
    assert leaking_files(root) == []
    # Every row of every SQLite file, read through SQLite as well as byte by byte.
    dbs = [p for p in root.rglob("*.sqlite3")]
    assert dbs, "the runs left no cache or ledger to scan"
    for db in dbs:
        with sqlite3.connect(db) as con:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master "
                                                "WHERE type = 'table'")]
            for table in tables:
                for row in con.execute(f'SELECT * FROM "{table}"'):
                    assert not leaks(repr(row)), (db, table)


def test_every_command_keeps_the_key_secret(world: dict[str, object],
                                            tiny_models: dict[str, Path]) -> None:
    root, env = world["root"], world["env"]
    assert isinstance(root, Path) and isinstance(env, dict)
    out = root / "out"
    common = [*cli_args(tiny_models, out), "-v", "--format", "md,json,txt,srt,vtt,html,chapters"]
    runs = []
    with ChatServer(reply="A summary of the clip.") as good:
        runs.append(cli([str(root / "in"), *common, "--base-url", good.base_url], env, root))
        runs.append(cli(["ask", str(root / "in" / "a.mp4"), "What is shown?", *common,
                         "--base-url", good.base_url], env, root))
        runs.append(cli([str(root / "in" / "a.mp4"), *common, "--dry-run",
                         "--output-dir", str(root / "dry")], env, root))
        # The key as the password of the base URL.
        host = good.base_url.removeprefix("http://")
        runs.append(cli([str(root / "in" / "a.mp4"), *common, "--force", "--base-url",
                         f"http://user:{SENTINEL}@{host}"], env, root))
        assert all(h.get("authorization") == f"Bearer {SENTINEL}"
                   for h in good.request_headers[:1])  # the key was really sent
    assert runs[0].returncode == 1 and "broken.mp4" in runs[0].stdout + runs[0].stderr
    assert (out / "a.summary.json").exists() and (out / "a.summary.html").exists()
    # A server that echoes the key in its 401, with and without the debug re-raise.
    with ChatServer(status=401) as echo:
        runs.append(cli([str(root / "in" / "a.mp4"), *common, "--force", "--base-url",
                         echo.base_url], env, root))
        runs.append(cli([str(root / "in" / "a.mp4"), *common, "--force", "--base-url",
                         echo.base_url], dict(env, SUMMARIZE_VIDEO_DEBUG="1"), root))
    assert runs[-2].returncode == 2 and "authentication failed" in runs[-2].stderr
    assert "Traceback" in runs[-1].stderr  # the debug run re-raised, and still no key
    runs.append(cli(["config"], env, root))
    assert "api_key = set" in runs[-1].stdout
    runs.append(cli(["search", "summary", "--cache-dir", str(root / "cache")], env, root))
    scan(world, runs)


def test_the_scan_finds_a_planted_key(tmp_path: Path) -> None:
    """The scanner itself: a key in plain text, UTF-16, inside SQLite, or only its tail."""
    (tmp_path / "plain.json").write_text(f'{{"k": "{SENTINEL}"}}')
    (tmp_path / "wide.txt").write_bytes(f"x{SENTINEL}".encode("utf-16-le"))
    with sqlite3.connect(tmp_path / "c.sqlite3") as con:
        con.execute("CREATE TABLE t (v TEXT)")
        con.execute("INSERT INTO t VALUES (?)", (f"Bearer ...{SENTINEL[-12:]}",))
    # A masked key, not the sentinel: what a careful formatter leaves must not count.
    (tmp_path / "clean.txt").write_text("sk-proj-***")
    try:
        assert leaking_files(tmp_path) == ["c.sqlite3", "plain.json", "wide.txt"]
    finally:  # planted on purpose: not for the session's own scan to find
        for name in ("c.sqlite3", "plain.json", "wide.txt"):
            (tmp_path / name).unlink()
    assert secrets_scan.leaks(f"key={SENTINEL[8:]}") and not secrets_scan.leaks("sk-proj-***")


def test_keys_in_urls_and_the_config_file_stay_secret(world: dict[str, object],
                                                      tiny_models: dict[str, Path]) -> None:
    """The key as the password of ``base_url`` (config file and ``OPENAI_BASE_URL``) and of an
    input URL: used, and never shown."""
    root, env = world["root"], world["env"]
    assert isinstance(root, Path) and isinstance(env, dict)
    config = Path(env["SUMMARIZE_VIDEO_CONFIG"])
    site_root = root / "site"
    site_root.mkdir()
    make_clip(site_root / "talk.mp4", seconds=2.0, fps=10)
    common = [*cli_args(tiny_models, root / "out"), "-v", "--format",
              "md,json,txt,srt,vtt,html,chapters"]
    runs = []
    with ChatServer(reply="A summary of the clip.") as chat, \
            MediaSite(site_root, user="viewer", password=SENTINEL) as site:
        keyed_base = url_with_key(chat.base_url)
        config.write_text(config.read_text() + f'base_url = "{keyed_base}"\n')
        runs.append(cli([url_with_key(site.url("auth/talk.mp4"), "viewer"), *common],
                        env, root))
        assert runs[-1].returncode == 0, runs[-1].stderr
        assert chat.requests and site.requests[-1][1]["authorization"].startswith("Basic ")
        runs.append(cli([url_with_key(site.url("auth/gone.mp4"), "viewer"), *common],
                        env, root))
        assert runs[-1].returncode == 1 and "failed: http://***@127.0.0.1:" in runs[-1].stderr
        runs.append(cli(["config"], env, root))
        assert f'base_url = "{chat.base_url.replace("http://", "http://***@")}"' \
            in runs[-1].stdout, runs[-1].stdout
        runs.append(cli(["config"], dict(env, OPENAI_BASE_URL=keyed_base), root))
    scan(world, runs)


def test_redaction_masks_every_urls_userinfo_and_known_keys() -> None:
    from summarize_video.redaction import redact_text, redact_url, url_userinfo

    text = (f"GET http://u:{SENTINEL}@h:8/v1 failed; then ftp://{SENTINEL}@x/y "
            f"(key {SENTINEL}) and HTTPS://a:p@ss@h/z?q=a@b, mail u@h.example")
    clean = redact_text(text, [SENTINEL, None, "ab"])
    assert not leaks(clean) and "p@ss" not in clean
    assert "http://***@h:8/v1" in clean and "ftp://***@x/y" in clean
    assert "HTTPS://***@h/z?q=a@b" in clean and "mail u@h.example" in clean
    assert redact_url(f"http://u:{SENTINEL}@h/x") == "http://***@h/x"
    assert url_userinfo("http://us%40r:p%3Aw@h:8/x?y") == ("http://h:8/x?y", "us@r", "p:w")
    assert url_userinfo("http://h/x") == ("http://h/x", None, None)
