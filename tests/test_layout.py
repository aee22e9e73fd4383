"""The package's layout holds: no import circles, imports point down the floors, no module
takes another's private names, short functions, and the decoding child loads only media/.

The floors, top to bottom (see the README's "Layout"): cli -> batch -> outputs, catalog ->
pipeline -> transcription, captioning, ocr -> media, reasoning, inputs -> options -> the ground.
A module may import its own folder and any lower floor; ``testing/`` imports the package and
nothing imports it. Imports under ``if TYPE_CHECKING:`` are ignored; lazy imports inside
functions count.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "summarize_video"
NAME = "summarize_video"

FLOORS = {
    "cli": 8,
    "batch": 7,
    "outputs": 6,
    "catalog": 6,
    "pipeline": 5,
    "transcription": 4,
    "captioning": 4,
    "ocr": 4,
    "media": 3,
    "reasoning": 3,
    "inputs": 3,
    "options": 2,
    # The ground: small modules every floor may use.
    "errors": 1,
    "limits": 1,
    "redaction": 1,
    "timeline": 1,
    "prompting": 1,
    "devices": 1,
    "model_refs": 1,
    "_version": 0,
}
# The package root imports its public names lazily from anywhere; testing/ sits outside.
OUTSIDE = {"__init__", "__main__", "testing", "prompts"}
MAX_FUNCTION_LINES = 80


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _hidden(tree: ast.AST) -> set[int]:
    """Nodes under ``if TYPE_CHECKING:``."""
    return {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
            and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every runtime import of ``name``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = _hidden(tree)
    found = []
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name in known]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module.startswith(NAME):
                continue
            taken = [a.name for a in node.names]
            subs = [f"{module}.{t}" for t in taken if f"{module}.{t}" in known]
            if subs:
                found += [(s, [], node.lineno) for s in subs]
            if module in known and len(subs) < len(taken):
                found.append((module, [t for t in taken if f"{module}.{t}" not in known],
                              node.lineno))
    return [(m, names, line) for m, names, line in found
            if m != name and not name.startswith(m + ".")]


def floor_of(module: str) -> tuple[str, int | None]:
    top = module.split(".")[1] if module.count(".") else ""
    return top, FLOORS.get(top)


@pytest.fixture(scope="module")
def graph() -> dict[str, list[tuple[str, list[str], int]]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_every_module_has_a_floor() -> None:
    tops = {floor_of(m)[0] for m in modules() if m != NAME}
    assert tops - set(FLOORS) - OUTSIDE == set()


def test_no_import_circles(graph: dict[str, list[tuple[str, list[str], int]]]) -> None:
    edges = {m: {t for t, _, _ in targets} for m, targets in graph.items()}
    circles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circles.append([*trail[trail.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not circles, "\n".join(map(str, circles))


def test_imports_point_down(graph: dict[str, list[tuple[str, list[str], int]]]) -> None:
    upward = []
    for module, targets in graph.items():
        top, floor = floor_of(module)
        if top in OUTSIDE or floor is None:
            continue
        for target, _, line in targets:
            other, other_floor = floor_of(target)
            if other == top or (other_floor is None and target == NAME):
                continue
            # Same floor, other folder (outputs -> catalog): not allowed either, except in
            # the ground, whose small modules may use each other.
            if other_floor is None or other_floor > floor or (
                    other_floor == floor and floor > 2):
                upward.append(f"{module}:{line} imports {target}")
    assert not upward, "\n".join(map(str, upward))


def test_testing_helpers_are_never_imported_by_the_package(
        graph: dict[str, list[tuple[str, list[str], int]]]) -> None:
    users = [m for m, targets in graph.items() if not m.startswith(f"{NAME}.testing")
             for t, _, _ in targets if t.startswith(f"{NAME}.testing")]
    assert not users, "\n".join(map(str, users))


def test_no_module_takes_another_modules_private_names(
        graph: dict[str, list[tuple[str, list[str], int]]]) -> None:
    taken = [f"{m} takes {t}.{n}" for m, targets in graph.items() for t, names, _ in targets
             for n in names if n.startswith("_") and not n.startswith("__")]
    assert not taken, "\n".join(map(str, taken))


def test_functions_are_short() -> None:
    long = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert not long, "\n".join(map(str, long))


def test_the_decoding_child_loads_only_media_and_the_ground() -> None:
    """What a frame-sampling or audio child process imports of the package: its jobs module
    and what that pulls in, never the pipeline, the models or the CLI."""
    code = ("import json, sys; import summarize_video.media.jobs as j, "
            "summarize_video.media.isolation, summarize_video.media.parallel, "
            "summarize_video.media.selection, summarize_video.media.audio; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('summarize_video'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent)
    loaded = json.loads(out.stdout)
    outside = [m for m in loaded if floor_of(m)[0] not in ("", "media")
               and (floor_of(m)[1] if floor_of(m)[1] is not None else 99) > FLOORS["options"]]
    assert not outside, "\n".join(map(str, outside))
    assert "summarize_video.media.jobs" in loaded
