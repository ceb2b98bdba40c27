"""The robustness matrix end to end at a tiny size: the +sweep=robustness training multirun
(one job per training mask), scored on test masks and hole-ratio buckets by
scripts/robustness_matrix.py, read back as a table and a heat map."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from helpers import REPO_ROOT, TINY, run_cli

from inpaintgan.errors import UsageError
from inpaintgan.robustness import Matrix, matrix_markdown, read_matrix, sweep_jobs

# Four trainings of two 64-px batches each: helpers.TINY with a narrower U-Net, no style term
# and no image grids.
_NARROWER = {"model.generator.base_channels": "4", "callbacks.image_grid.every_n_batches": "100000"}
TINY_TRAIN = [
    f"{key}={_NARROWER.get(key, value)}" for key, value in (o.split("=", 1) for o in TINY)
] + ["model.discriminator.base_channels=4", "loss.style_weight=0"]


def _script():
    spec = importlib.util.spec_from_file_location(
        "robustness_matrix", REPO_ROOT / "scripts" / "robustness_matrix.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_matrix_sweep_runs_end_to_end_at_a_tiny_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INPAINTGAN_DATA", str(tmp_path))  # bucket masks under tmp_path/masks
    sweep = tmp_path / "train"
    result = run_cli(
        "inpaintgan.train", "-m", "+sweep=robustness", *TINY_TRAIN, f"hydra.sweep.dir={sweep}",
        env={"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sweep_jobs(sweep)
    assert list(jobs) == ["center", "irregular", "mixed", "thick"]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == [
        "0-center", "1-irregular", "2-mixed", "3-thick",
    ]  # fmt: skip

    out = tmp_path / "matrix"
    text = _script().run(
        [
            "--sweep", str(sweep), "--out", str(out),
            "--columns", "center,buckets", "--baselines", "mean_fill",
            "--", "data.num_workers=0", "device=cpu", "max_images=2",
        ]
    )  # fmt: skip
    matrix = read_matrix(out, "psnr")
    assert matrix.rows == ["center", "irregular", "mixed", "thick", "mean_fill"]
    assert matrix.columns[0] == "center" and len(matrix.columns) == 1 + 6
    assert all(0 < v < 100 for row in matrix.values for v in row)
    table = (out / "matrix_psnr.md").read_text()
    assert table in text and table.count("\n") == 2 + 5 and "(50, 60] %" in table
    assert (out / "matrix_ssim.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((tmp_path / "masks" / "buckets").rglob("*.png"))) == 6 * 2
    cell = json.loads((out / "irregular" / "buckets" / "metrics.json").read_text())
    assert cell["model"] == "irregular" and cell["mask"] == "buckets"


def test_sweep_jobs_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such folder"):
        sweep_jobs(tmp_path / "nowhere")
    job = tmp_path / "0-center" / ".hydra"
    job.mkdir(parents=True)
    (job / "hydra.yaml").write_text("hydra:\n  runtime:\n    choices:\n      mask: center\n")
    with pytest.raises(UsageError, match="0-center.*no checkpoints/last.ckpt"):
        sweep_jobs(tmp_path)


def test_matrix_markdown_marks_the_best_row_of_each_column() -> None:
    matrix = Matrix("psnr", ["center", "mixed"], ["center", "buckets 0-10"], [[30, 20], [28, None]])
    table = matrix_markdown(matrix)
    assert "| center | **30.00** | **20.00** |" in table and "| mixed | 28.00 | – |" in table
    assert "(0, 10] %" in table.splitlines()[0]
    lpips = matrix_markdown(Matrix("lpips", ["a", "b"], ["center"], [[0.2], [0.1]]))
    assert "| b | **0.100** |" in lpips


def test_heatmap_colours_each_cell_against_its_column() -> None:
    """A column's difficulty must not decide the colour: the rows are what the map compares."""
    import numpy as np

    from inpaintgan.robustness import column_means

    data = np.array([[20.0, 30.0, np.nan], [22.0, 34.0, np.nan], [np.nan, 35.0, np.nan]])
    means = column_means(data)
    assert means.shape == (1, 3)
    assert means[0, 0] == pytest.approx(21.0) and means[0, 1] == pytest.approx(33.0)
    assert np.isnan(means[0, 2])  # an empty column stays empty (grey), not 0
    relative = data - means
    assert relative[0, 0] == pytest.approx(-1.0) and relative[1, 1] == pytest.approx(1.0)


def test_heatmap_writes_a_png_with_empty_cells(tmp_path: Path) -> None:
    from inpaintgan.robustness import heatmap

    matrix = Matrix(
        "psnr", ["center", "telea"], ["center", "buckets 0-10"], [[22.0, None], [23.0, 35.0]]
    )
    path = heatmap(matrix, tmp_path / "m.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
