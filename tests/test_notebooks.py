"""The notebooks in notebooks/ are stored with their outputs, and those outputs are whole.

A notebook on the repository page shows only what is stored in it, so each is committed
executed (figures included). Executing them is `make test`'s job (nbmake runs the
quickstart); this test only reads the files (well under a second): every code cell ran,
once, in order (execution counts 1..N), no cell stored an error, and exactly the cells
whose code prints, displays or shows a figure have outputs (a cell that gained a print
without a re-run, or lost one and kept its old output, is caught). Figures are valid PNGs.

To refresh one (the quickstart takes about two minutes on a CPU):
``OMP_NUM_THREADS=2 .venv/bin/jupyter execute --inplace notebooks/quickstart.ipynb``.
"""

from __future__ import annotations

import ast
import base64
import json
from pathlib import Path

import pytest
from helpers import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
SHOWING = {"print", "display", "show"}  # calls whose output is stored
PNG = b"\x89PNG\r\n\x1a\n"


def _cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _expects_output(source: str) -> bool:
    """Whether running ``source`` stores an output: it calls print/display/show, or its last
    statement is a bare expression that is not a call (IPython shows its value)."""
    code = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in SHOWING:
                return True
    last = tree.body[-1] if tree.body else None
    return isinstance(last, ast.Expr) and not isinstance(last.value, ast.Call | ast.Constant)


def _images(cell: dict) -> list[bytes]:
    return [
        base64.b64decode(output["data"]["image/png"])
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]


def test_there_are_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "results.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_are_whole_and_in_order(path: Path) -> None:
    cells = _cells(path)
    counts = [cell.get("execution_count") for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), f"{path.name}: run it top to bottom once"
    for number, cell in enumerate(cells, 1):
        outputs = cell.get("outputs", [])
        errors = [o for o in outputs if o["output_type"] == "error"]
        assert not errors, f"{path.name} cell {number} stored an error: {errors[0].get('ename')}"
        assert bool(outputs) == _expects_output(_source(cell)), (
            f"{path.name} cell {number}: outputs do not match its code (stale? re-run it)"
        )
        if "plt.show()" in _source(cell):
            images = _images(cell)
            assert images and all(png.startswith(PNG) for png in images), (
                f"{path.name} cell {number} shows a figure but stores no PNG"
            )


def test_the_quickstart_stores_its_figures_and_uses_the_public_api() -> None:
    path = REPO_ROOT / "notebooks" / "quickstart.ipynb"
    cells = _cells(path)
    assert sum(len(_images(cell)) for cell in cells) >= 3  # masks, losses, the comparison
    sources = "\n".join(map(_source, cells))
    assert "from inpaintgan import load_inpainter" in sources
    assert "inpaintgan.evaluate import" not in sources


def test_expected_output_rule() -> None:
    assert _expects_output("x = 1\nprint(x)")
    assert _expects_output("plt.imshow(a)\nplt.show()")
    assert _expects_output("display(table)")
    assert _expects_output("rows = [1]\nrows")
    assert not _expects_output("import os\nx = f(1)")
    assert not _expects_output("def f():\n    return 1")
