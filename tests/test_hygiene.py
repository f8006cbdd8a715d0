"""The codebase's own rules: no import cycles, one version, and a README whose Python runs as written."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "albert_edge": ROOT / "albert_edge",
    "albert_edge_export": ROOT / "export" / "albert_edge_export",
    "albert_edge_runtime": ROOT / "runtime" / "albert_edge_runtime",
}


def module_files() -> dict[str, Path]:
    out = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            if path.stem != "__main__":
                out[name] = path
    return out


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Our modules that `name` imports anywhere in its file, top level or inside a function."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by depth-first search, as the path that closes it."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_module_graph_has_no_cycle():
    files = module_files()
    graph = {name: imported_modules(name, path, set(files)) for name, path in files.items()}
    # Package __init__ files re-export their modules; an edge into the package itself is not a cycle of modules.
    graph = {name: {t for t in targets if t not in PACKAGES} for name, targets in graph.items()}
    assert graph["albert_edge.checkpoint"] == {"albert_edge.config", "albert_edge.model", "albert_edge.record"}
    assert cycles(graph) == []


# What each package may import: training feeds the export, both feed on the runtime, never the other way; the
# composed `albert-edge` command sits downstream of both (albert_edge_export.commands).
MAY_IMPORT = {
    "albert_edge_runtime": {"albert_edge_runtime"},
    "albert_edge": {"albert_edge", "albert_edge_runtime"},
    "albert_edge_export": {"albert_edge_export", "albert_edge", "albert_edge_runtime"},
}


def upward_imports(files: dict[str, Path]) -> list[str]:
    """`module -> package` for every import of a package its own may not use."""
    known = set(module_files()) | set(files) | set(PACKAGES)
    found = []
    for name, path in files.items():
        allowed = MAY_IMPORT[name.split(".")[0]]
        found += [
            f"{name} -> {t}" for t in sorted(imported_modules(name, path, known)) if t.split(".")[0] not in allowed
        ]
    return found


def test_imports_run_downstream_only(tmp_path):
    mains = {f"{package}.__main__": folder / "__main__.py" for package, folder in PACKAGES.items()}
    assert upward_imports(module_files() | {k: v for k, v in mains.items() if v.is_file()}) == []
    upward = tmp_path / "cli.py"
    upward.write_text("def build():\n    from albert_edge_export.cli import add_export_parser\n")
    assert upward_imports({"albert_edge.cli": upward}) == ["albert_edge.cli -> albert_edge_export.cli"]


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


def test_each_module_imports_alone_in_a_fresh_interpreter():
    def import_alone(name: str) -> tuple[str, str]:
        done = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
        return name, done.stderr.strip().splitlines()[-1] if done.returncode else ""

    names = [n for n in module_files() if not n.endswith("unicode_tables")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = {name: error for name, error in pool.map(import_alone, names) if error}
    assert failures == {}


def test_one_version_for_both_distributions():
    from importlib.metadata import version

    source = (PACKAGES["albert_edge_runtime"] / "VERSION").read_text().strip()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if d.startswith("albert-edge-runtime")]
    assert pins == [f"albert-edge-runtime=={source}"], "pin the runtime to this release: runtime/.../VERSION"
    assert version("albert-edge") == version("albert-edge-runtime") == source


def readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_python_runs_as_written(tmp_path, monkeypatch):
    blocks = readme_python_blocks()
    assert blocks, "the README has a Python quickstart"
    # `bundle/` is what the README's export command writes; the default bundle stands in for it.
    shutil.copytree(PACKAGES["albert_edge_runtime"] / "default_bundle", tmp_path / "bundle")
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})


def test_experiments_never_import_the_tests():
    """bench/ holds experiments the tests may smoke-test; the other way round would tie them together."""
    helpers = {p.stem for p in (ROOT / "tests").glob("*.py")} - {"conftest"}
    pattern = re.compile(rf"^\s*(from|import)\s+(tests|{'|'.join(sorted(helpers))})\b|sys\.path.*tests", re.M)
    found = [p.name for p in sorted((ROOT / "bench").glob("*.py")) if pattern.search(p.read_text(encoding="utf-8"))]
    assert found == []
