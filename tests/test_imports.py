"""The import rules, checked on the source: no import circle, and commands are thin layers.

No module of ``inpaintgan`` imports, directly or through others, a module that imports it
back (an import inside a function counts: it only hides the circle). A command module
(``python -m inpaintgan.<name>``) may import the library but never another command, and no
library module imports a command. The imports are read with ``ast`` (those inside functions
included, relative ones resolved, ``if TYPE_CHECKING:`` blocks left out as they never run),
so nothing is imported to check them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "inpaintgan"
#: The command modules (``python -m inpaintgan.<name>``).
COMMANDS = {"train", "evaluate", "predict", "bench", "export", "report", "demo", "prepare"}


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: module level, in functions and classes, not
    under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        children = ast.iter_child_nodes(node)
        if _is_type_checking(node):
            children = iter(node.orelse)
        todo.extend(children)
    return found


def _imports(source: str, module: str, is_package: bool) -> list[tuple[str, list[str]]]:
    """``(X, [Y, ...])`` per ``from X import Y, ...`` and ``(X, [])`` per ``import X``, with
    relative imports resolved against ``module`` (a package's own ``__init__`` when
    ``is_package``)."""
    found: list[tuple[str, list[str]]] = []
    for node in _import_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
            continue
        base = node.module or ""
        if node.level:
            anchor = module.split(".")
            anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
            base = ".".join([*anchor, base] if base else anchor)
        found.append((base, [alias.name for alias in node.names]))
    return found


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every ``inpaintgan`` name ``source`` imports (``from X import Y`` yields ``X`` and
    ``X.Y``)."""
    names = {
        name
        for base, aliases in _imports(source, module, is_package)
        for name in (base, *(f"{base}.{alias}" for alias in aliases))
    }
    return {n for n in names if n == "inpaintgan" or n.startswith("inpaintgan.")}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """``module -> the package's modules it imports``: ``import X`` gives ``X``; ``from X
    import Y`` gives ``X.Y`` when that is a module, else ``X``."""
    files = {_module_name(path, package): path for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = set()
        for base, aliases in _imports(path.read_text(), module, path.name == "__init__.py"):
            for alias in aliases or [None]:
                name = f"{base}.{alias}" if alias and f"{base}.{alias}" in files else base
                if name in files:
                    targets.add(name)
        graph[module] = targets - {module}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle ``[a, b, ..., a]`` per group of modules that import each other (Tarjan's
    strongly connected components, each walked from its first module by name)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)

    def circle(group: set[str]) -> list[str]:
        start = min(group)
        paths = [[start]]
        while paths:  # breadth first: the shortest way back to start
            path = paths.pop(0)
            for target in sorted(graph[path[-1]] & group):
                if target == start:
                    return [*path, start]
                if target not in path:
                    paths.append([*path, target])
        raise AssertionError(group)

    return sorted(circle(group) for group in groups)


def command_of(name: str) -> str | None:
    """The command ``name`` is (``inpaintgan.train`` → ``train``), or None for the library."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] == "inpaintgan" and parts[1] in COMMANDS:
        return parts[1]
    return None


def _has_hydra_main(source: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if isinstance(target, ast.Attribute) and target.attr == "main":
                    if isinstance(target.value, ast.Name) and target.value.id == "hydra":
                        return True
    return False


def layering_violations(package: Path = PACKAGE) -> list[str]:
    """``importer -> imported`` for each import of a command by another module."""
    found = []
    for path in sorted(package.rglob("*.py")):
        module = _module_name(path, package)
        importer = command_of(module)
        names = imported_modules(path.read_text(), module, path.name == "__init__.py")
        targets = {command_of(name) for name in names}
        for target in sorted(t for t in targets if t is not None and t != importer):
            found.append(f"{module} -> inpaintgan.{target}")
    return found


# ------------------------------------------------------------------------- no circle
def test_no_import_circle() -> None:
    cycles = [" -> ".join(cycle) for cycle in import_cycles(import_graph())]
    assert cycles == [], "import circle(s): " + "; ".join(cycles)


def _write_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "inpaintgan"
    for name, source in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return package


def test_a_circle_hidden_in_a_function_or_a_relative_import_is_named(tmp_path: Path) -> None:
    package = _write_package(
        tmp_path,
        {
            "__init__.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from inpaintgan.inpainter import Inpainter\n",
            "inpainter.py": "from inpaintgan.exporting import load_onnx\n",
            "exporting.py": "def info():\n    from .inpainter import size_requirements\n",
            "data/__init__.py": "from .datamodule import DataModule\n",
            "data/datamodule.py": "def f():\n    from inpaintgan.data import streaming\n",
            "data/streaming.py": "from inpaintgan.data.datamodule import loader\n",
            "io.py": "import inpaintgan.errors\n",
            "errors.py": "",
        },
    )
    graph = import_graph(package)
    assert graph["inpaintgan"] == set()  # TYPE_CHECKING imports never run
    assert graph["inpaintgan.data"] == {"inpaintgan.data.datamodule"}  # a package's own "."
    assert import_cycles(graph) == [
        ["inpaintgan.data.datamodule", "inpaintgan.data.streaming", "inpaintgan.data.datamodule"],
        ["inpaintgan.exporting", "inpaintgan.inpainter", "inpaintgan.exporting"],
    ]
    (package / "exporting.py").write_text("def info():\n    return 1\n")
    assert len(import_cycles(import_graph(package))) == 1


# ------------------------------------------------------------------ thin commands
def test_no_command_imports_another_and_no_library_imports_a_command() -> None:
    assert layering_violations() == []


def test_every_hydra_entry_point_is_a_known_command() -> None:
    """A new ``@hydra.main`` module must join COMMANDS, so the rule above covers it."""
    entry_points = {
        path.stem for path in PACKAGE.rglob("*.py") if _has_hydra_main(path.read_text())
    }
    assert entry_points >= {"train", "bench"}
    assert entry_points <= COMMANDS, entry_points - COMMANDS


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("inpaintgan.bench", "from inpaintgan.train import build_module", ["train"]),
        ("inpaintgan.bench", "def f():\n    import inpaintgan.export as e", ["export"]),
        ("inpaintgan.report", "from inpaintgan import evaluate", ["evaluate"]),
        ("inpaintgan.report", "from . import predict", ["predict"]),
        ("inpaintgan.perf.run", "from ..train import git_commit", ["train"]),
        ("inpaintgan.bench", "from inpaintgan.perf import run_bench", []),
        ("inpaintgan.train", "from inpaintgan.train import x", []),
    ],
)
def test_the_check_sees_every_import_form(module: str, source: str, expected: list[str]) -> None:
    importer = command_of(module)
    targets = {command_of(name) for name in imported_modules(source, module)}
    assert sorted(t for t in targets if t is not None and t != importer) == expected


def test_a_command_importing_a_command_is_reported(tmp_path: Path) -> None:
    package = tmp_path / "inpaintgan"
    (package / "perf").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "bench.py").write_text("from inpaintgan.train import build_module\n")
    (package / "train.py").write_text("from inpaintgan.builders import build_module\n")
    (package / "perf" / "run.py").write_text("def f():\n    from inpaintgan import report\n")
    assert layering_violations(package) == [
        "inpaintgan.bench -> inpaintgan.train",
        "inpaintgan.perf.run -> inpaintgan.report",
    ]


def test_commands_are_thin() -> None:
    """A command parses its config, calls the library, prints and exits: ~100 lines."""
    sizes = {name: len((PACKAGE / f"{name}.py").read_text().splitlines()) for name in COMMANDS}
    assert {name: n for name, n in sizes.items() if n > 130} == {}
