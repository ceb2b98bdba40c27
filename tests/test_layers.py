"""The layering rule, checked on the source: commands are thin layers over the library.

A command module (``python -m inpaintgan.<name>``) may import the library but never another
command, and no library module imports a command. The imports are read with ``ast`` (those
inside functions included), so nothing is imported to check them.
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


def imported_modules(source: str, module: str) -> set[str]:
    """Every ``inpaintgan`` module ``source`` imports (``from X import Y`` yields ``X`` and
    ``X.Y``; relative imports are resolved against ``module``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: -node.level]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n == "inpaintgan" or n.startswith("inpaintgan.")}


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
        targets = {command_of(name) for name in imported_modules(path.read_text(), module)}
        for target in sorted(t for t in targets if t is not None and t != importer):
            found.append(f"{module} -> inpaintgan.{target}")
    return found


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
