"""Every third-party module the benchmarks import is declared: `python -m ops.bench.e2e` crashed
at its very end on a fresh install because matplotlib was declared nowhere (issue 13)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"ops", "stream", "producers", "sentistream", "model", "tests"}
# Distributions whose import name differs from their own, for when they are not installed here
# (`make test` installs the dev and train extras, not bench).
DISTRIBUTION_OF = {"lingua": "lingua-language-detector"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported_top_levels(folder: Path) -> set[str]:
    found = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found - FIRST_PARTY - set(sys.stdlib_module_names)


def test_the_benchmarks_imports_are_in_the_bench_extra_or_the_base() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for r in project["optional-dependencies"].get("bench", [])}
    distributions = packages_distributions()
    missing = []
    for module in sorted(_imported_top_levels(ROOT / "ops" / "bench")):
        known = distributions.get(module, [DISTRIBUTION_OF.get(module, module)])
        names = {d.lower().replace("_", "-") for d in known}
        if not names & declared:
            missing.append(module)
    assert not missing, f"imported by ops/bench but declared neither in the base nor `bench`: " \
                        f"{missing}"


def test_make_bench_installs_the_extra_and_runs_the_benchmark() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^bench:.*##", makefile, re.M), "`make bench` with a help line"
    script = (ROOT / "ops" / "bench.sh").read_text()
    assert 'ensure_venv "dev,bench"' in script and "-m ops.bench.e2e" in script
