"""Imports point one way: the worker and the readers meet only in the schema (and shared bits).

Every module of stream/ belongs to one side (``SIDES``, longest prefix wins); the test reads each
module's imports from its AST, those inside functions too, and fails naming the file, the import
and the rule it breaks. A new module must be placed in ``SIDES`` first.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Module (or package) -> side. Shared: small pieces both sides use, which import neither.
SIDES: dict[str, str] = {
    "stream": "shared",
    "stream.errors": "shared",
    "stream.scripts": "shared",
    "stream.cluster": "shared",
    "stream.schema": "schema",
    # Text analysis both sides use: terms, fingerprints, Fightin' Words, and `why` (drivers of a
    # window, for the worker's alerts and the readers' why).
    "stream.drivers": "analysis",
    # The worker: consume -> score -> write, and the alerts it computes.
    "stream.worker": "worker",
    # The readers: query CLI, API, dashboard, demo.
    "stream.readers": "readers",
}
# Which sides each side may import.
ALLOWED: dict[str, set[str]] = {
    "shared": {"shared"},
    "schema": {"schema", "shared"},
    "analysis": {"analysis", "schema", "shared"},
    "worker": {"worker", "analysis", "schema", "shared"},
    "readers": {"readers", "analysis", "schema", "shared"},
}


def side(module: str) -> str | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        found = SIDES.get(".".join(parts[:n]))
        if found is not None:
            return found
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[str]:
    """Absolute names of our modules that ``path`` imports (``from stream import x`` -> its
    module ``stream.x`` when x is one)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [f"{node.module}.{a.name}" if _is_module(f"{node.module}.{a.name}")
                      else node.module for a in node.names]
    return [n for n in names if n == "stream" or n.startswith("stream.")]


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def modules() -> list[Path]:
    return sorted((ROOT / "stream").rglob("*.py"))


def test_every_module_has_a_side() -> None:
    unplaced = [module_name(p) for p in modules() if side(module_name(p)) is None]
    assert not unplaced, f"place these in tests/core/test_layout.py SIDES: {unplaced}"


def test_the_worker_and_the_readers_meet_only_in_the_schema() -> None:
    broken = []
    for path in modules():
        mine = side(module_name(path))
        for imported in imports(path):
            theirs = side(imported)
            if mine is not None and theirs not in ALLOWED[mine]:
                broken.append(f"{path.relative_to(ROOT)} ({mine}) imports {imported} ({theirs})")
    assert not broken, "imports against the layout:\n" + "\n".join(broken)


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f() -> None:\n    from stream.readers.query.reader import reader\n")
    assert imports(module) == ["stream.readers.query.reader"]
    assert side("stream.readers.query.reader") == "readers"
