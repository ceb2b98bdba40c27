"""The W&B (and TensorBoard) dashboard: logged images equal the grids on disk, the run summary
holds the best val PSNR, the run carries config/commit/tags, a multirun is one W&B group,
checkpoint artifacts, and the reader of offline runs these checks use."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import wandb
from helpers import TINY, compose_config, compose_train, run_cli
from omegaconf import OmegaConf
from PIL import Image

from inpaintgan.callbacks import (
    GRID_COLUMNS,
    GRID_LABELS,
    BestMetricSummary,
    add_column_labels,
    header_height,
    log_checkpoint_artifacts,
)
from inpaintgan.loggers import (
    job_run_name,
    read_offline_run,
    sweep_group_name,
    to_uint8_image,
    wandb_logger,
)
from inpaintgan.train import train


def load_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.mode == "RGB", f"{path} is {image.mode}, not 8-bit RGB"
        return np.asarray(image).copy()


def only_offline_run(run_dir: Path):
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    run = read_offline_run(offline, wait_s=60)
    assert run.finished, f"{offline} has no exit record: the W&B run was not finished"
    return run


def logged_grids(run, key: str) -> dict[int, tuple[Path, str]]:
    """{step: (image file, caption)} of every grid logged under ``key``."""
    grids = {}
    for row in run.history:
        if key in row:
            (filename,) = row[key]["filenames"]
            (caption,) = row[key]["captions"]
            grids[int(row["trainer/global_step"])] = (run.files / filename, caption)
    return grids


# ------------------------------------------------------------------------ the conversion
def test_uint8_conversion_scales_rounds_clamps_and_expands_grey() -> None:
    image = torch.tensor([0.0, 0.5, 1.0, 1.7, -0.2, 0.2]).reshape(1, 2, 3)
    out = to_uint8_image(image)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 3)
    assert out[..., 0].tolist() == [[0, 128, 255], [255, 0, 51]]
    assert (out[..., 0] == out[..., 2]).all()
    rgb = torch.rand(3, 4, 5)
    assert np.array_equal(to_uint8_image(rgb)[..., 1], (rgb[1] * 255).round().byte().numpy())
    as_bytes = torch.randint(0, 256, (3, 4, 5), dtype=torch.uint8)
    assert np.array_equal(to_uint8_image(as_bytes), as_bytes.permute(1, 2, 0).numpy())
    with pytest.raises(ValueError, match="shape"):
        to_uint8_image(torch.zeros(4, 8, 8))


# ------------------------------------------------------------ an offline training run
@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory):
    """Two epochs of two batches, W&B offline; train() closes the run before it returns.

    Steps count batches from 0, as Lightning logs them: a grid or metric at step k follows
    batch k, so the validations after each epoch are at steps 1 and 3.
    """
    out = tmp_path_factory.mktemp("wandb_run")
    cfg = compose_train(
        [
            *TINY,
            "logger=wandb",
            "trainer.max_epochs=2",
            "trainer.log_every_n_steps=1",
            "tags=[wbtest,tiny]",
        ],
        out,
    )
    train(cfg)
    assert wandb.run is None, "train() leaves its W&B run open"
    return out, only_offline_run(out), cfg


def test_logged_grids_are_the_png_grids_on_disk_not_black(offline_run) -> None:
    out, run, _ = offline_run
    seen = []
    for tag, steps in (("train", [0, 1, 2, 3]), ("val", [1, 3])):
        grids = logged_grids(run, f"samples/{tag}")
        assert sorted(grids) == steps
        for step, (logged, _caption) in grids.items():
            on_disk = load_png(out / "samples" / f"{tag}_batch{step:07d}.png")
            pixels = load_png(logged)
            assert np.array_equal(pixels, on_disk), f"{logged} differs from the disk grid"
            assert pixels.mean() > 30 and pixels.std() > 10
            seen.append(pixels)
    assert len({p.tobytes() for p in seen}) > 1, "every logged grid is the same image"
    # The label row, then one row per image and the four columns, 64 px tiles with 2 px
    # gaps: train grids hold the training batch (2 images), val grids the 4 fixed images.
    head = header_height(64)
    assert seen[0].shape == (head + 2 + 2 * 66, 2 + 4 * 66, 3)
    assert seen[-1].shape == (head + 2 + 4 * 66, 2 + 4 * 66, 3)


def test_train_grids_show_training_photos_not_the_val_images(offline_run) -> None:
    out, _, _ = offline_run
    head = header_height(64)

    def truth_tiles(path: Path) -> list[bytes]:
        pixels = load_png(path)[head:]
        rows = (pixels.shape[0] - 2) // 66
        return [
            pixels[2 + r * 66 : 66 + r * 66, 2 + 3 * 66 : 66 + 3 * 66].tobytes()
            for r in range(rows)
        ]

    val = set(truth_tiles(out / "samples" / "val_batch0000001.png"))
    for path in sorted((out / "samples").glob("train_*.png")):
        assert not val & set(truth_tiles(path)), f"{path.name} shows validation images"


def _stub_module(scale: float = 0.5):
    class Output:
        def __init__(self, image: torch.Tensor) -> None:
            self.image = image

    class Generator(torch.nn.Module):
        def forward(self, image: torch.Tensor, mask: torch.Tensor) -> Output:
            return Output(image * scale)

    class Module:
        device = torch.device("cpu")
        generator = Generator()

    return Module()


def _stub_trainer(batch_idx: int = 0):
    class Loop:
        total_batch_idx = batch_idx

    class FitLoop:
        epoch_loop = Loop()

    class Trainer:
        is_global_zero = True
        fit_loop = FitLoop()
        current_epoch = 0
        loggers: list = []

    return Trainer()


def test_train_grid_is_made_from_the_batch_the_callback_saw(tmp_path) -> None:
    from inpaintgan.callbacks import ImageGridCallback

    callback = ImageGridCallback(num_images=3, every_n_batches=5, dirpath=str(tmp_path))
    generator = torch.Generator().manual_seed(0)
    batch = {
        "image": torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8, generator=generator),
        "mask": torch.zeros(4, 1, 64, 64, dtype=torch.bool),
    }
    batch["mask"][:, :, 16:48, 16:48] = True
    callback.on_train_batch_end(_stub_trainer(4), _stub_module(), None, batch, 4)
    assert not list(tmp_path.glob("*.png")), "a grid before every_n_batches"
    callback.on_train_batch_end(_stub_trainer(5), _stub_module(), None, batch, 5)
    seen = callback.last_images["train"]
    assert torch.allclose(seen["image"], batch["image"][:3].float() / 255)
    assert torch.equal(seen["mask"], batch["mask"][:3].float())
    grid = load_png(tmp_path / "train_batch0000005.png")
    head = header_height(64)
    assert grid.shape == (head + 2 + 3 * 66, 2 + 4 * 66, 3)
    for row in range(3):
        top = head + 2 + row * 66
        truth = grid[top : top + 64, 2 + 3 * 66 : 66 + 3 * 66]
        assert np.array_equal(truth, batch["image"][row].permute(1, 2, 0).numpy())


def test_grid_header_row_names_each_column() -> None:
    grid = np.full((2 + 2 * 66, 2 + 4 * 66, 3), 128, dtype=np.uint8)
    labelled = add_column_labels(grid)
    head = header_height(64)
    assert labelled.shape == (head + grid.shape[0], grid.shape[1], 3)
    assert np.array_equal(labelled[head:], grid)
    header = labelled[:head]
    cells = [header[:, 2 + c * 66 : 66 + c * 66] for c in range(4)]
    for cell in cells:
        assert (cell < 100).any(), "a column has no label"
        assert (cell == 255).mean() > 0.5  # dark text on white
    assert len({cell.tobytes() for cell in cells}) == 4, "two columns have the same label"
    assert GRID_LABELS == ("masked", "output", "composite", "truth")


def test_grid_caption_names_the_columns_and_the_step(offline_run) -> None:
    _, run, _ = offline_run
    for step, (_, caption) in logged_grids(run, "samples/val").items():
        assert " | ".join(GRID_COLUMNS) in caption
        assert f"step {step} " in caption


def test_summary_holds_the_best_val_psnr_and_its_step(offline_run) -> None:
    _, run, _ = offline_run
    vals = [
        (row["val/psnr"], row["trainer/global_step"]) for row in run.history if "val/psnr" in row
    ]
    assert len(vals) == 2
    best, step = max(vals)
    assert run.summary["val/psnr_best"] == pytest.approx(best)
    assert run.summary["val/psnr_best_step"] == step
    assert run.summary["val/psnr_best_epoch"] == (0 if step == 1 else 1)


def test_run_config_holds_the_resolved_config_commit_and_tags(offline_run) -> None:
    _, run, cfg = offline_run
    assert run.config["model"]["name"] == "paper"
    assert run.config["data"]["size"] == 64
    assert run.config["loss"] == OmegaConf.to_container(cfg.loss, resolve=True)
    assert re.fullmatch(r"[0-9a-f]{40}", run.config["git_commit"])
    assert run.tags == ["wbtest", "tiny"]
    assert run.job_type == "train"
    assert run.group == ""  # a single run is in no group


def test_dashboard_sections_hold_losses_discriminator_lr_and_val_metrics(offline_run) -> None:
    _, run, _ = offline_run
    keys = set().union(*run.history)
    for key in (
        "train/g_rec",
        "train/d_total",
        "train/D_real",
        "train/D_fake",
        "train/g_grad_norm",
        "train/lr_g",
        "train/images_per_s",
        "val/psnr",
        "val/ssim",
    ):
        assert key in keys, key


# ---------------------------------------------------------------- TensorBoard, too
def test_tensorboard_images_are_the_png_grids_on_disk(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(compose_train([*TINY, "logger=tensorboard"], tmp_path))
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    logged = events.Images("samples/val")
    assert [e.step for e in logged] == [1]
    pixels = np.asarray(Image.open(io.BytesIO(logged[0].encoded_image_string)).convert("RGB"))
    assert np.array_equal(pixels, load_png(tmp_path / "samples" / "val_batch0000001.png"))
    assert pixels.mean() > 30


# ------------------------------------------------------------------------- unit pieces
def test_best_metric_summary_tracks_the_best_and_survives_a_resume() -> None:
    tracker = BestMetricSummary(monitor="val/l1", mode="min")
    assert tracker.summary() == {}
    for value, step in ((0.5, 10), (0.3, 20), (0.4, 30)):
        if tracker._improves(value):
            tracker.best, tracker.best_step, tracker.best_epoch = value, step, step // 10
    assert tracker.summary() == {
        "val/l1_best": 0.3,
        "val/l1_best_step": 20,
        "val/l1_best_epoch": 2,
    }
    resumed = BestMetricSummary(monitor="val/l1", mode="min")
    resumed.load_state_dict(tracker.state_dict())
    assert resumed.summary() == tracker.summary()
    assert not resumed._improves(0.35) and resumed._improves(0.2)
    with pytest.raises(ValueError):
        BestMetricSummary(mode="best")


def test_multirun_names_and_groups() -> None:
    assert sweep_group_name("multirun/2025-01-02/03-04-05") == "2025-01-02_03-04-05"
    assert sweep_group_name("/tmp/my_sweep") == "my_sweep"
    overrides = ["data.size=64", "loss.style_weight=0", "+sweep=ablation", "seed=3"]
    assert job_run_name(overrides, ["loss.style_weight", "seed"]) == "loss.style_weight=0 seed=3"
    assert job_run_name(overrides, [], job_num=4) == "job4"


def test_checkpoint_artifacts_get_best_and_last_aliases(tmp_path: Path) -> None:
    last, best = tmp_path / "last.ckpt", tmp_path / "best.ckpt"
    last.write_bytes(b"last")
    best.write_bytes(b"best")
    run = wandb.init(project="inpaintgan-test", dir=str(tmp_path), mode="offline")
    try:
        logged = log_checkpoint_artifacts(run, last, best, {"best_score": 20.0})
    finally:
        run.finish()
    assert logged == [["best"], ["last", "latest"]]
    artifacts = only_offline_run(tmp_path).artifacts
    assert [a["name"] for a in artifacts] == [f"model-{run.id}"] * 2
    assert "best" in artifacts[0]["aliases"] and "last" in artifacts[1]["aliases"]


def test_log_model_is_off_for_offline_runs(tmp_path: Path) -> None:
    logger = wandb_logger(save_dir=str(tmp_path), mode="offline", log_model=True)
    assert logger.upload_checkpoints is False
    assert logger._log_model is False  # Lightning's own upload stays off too
    logger.experiment.finish()


# ---------------------------------------------------------------------- a 2-job multirun
def test_multirun_jobs_are_one_wandb_group_named_by_their_overrides(tmp_path: Path) -> None:
    result = run_cli(
        "inpaintgan.train",
        "-m",
        *TINY,
        "logger=wandb",
        "trainer.limit_train_batches=1",
        "loss.style_weight=0,10",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [only_offline_run(tmp_path / "sweep" / job) for job in ("0", "1")]
    assert [r.group for r in runs] == ["sweep", "sweep"]
    assert [r.name for r in runs] == ["loss.style_weight=0", "loss.style_weight=10"]
    assert runs[0].run_id != runs[1].run_id
    assert [r.config["loss"]["style_weight"] for r in runs] == [0, 10]
    # Each job logged into its own run: one validation grid each.
    assert all(len(logged_grids(r, "samples/val")) == 1 for r in runs)


# ------------------------------------------------------------------- evaluate with W&B
def test_evaluate_logs_metrics_and_a_per_image_table_with_thumbnails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import csv
    import json

    from inpaintgan.evaluate import evaluate

    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb_data"))  # artifact staging
    overrides = [
        "model=telea",
        "max_images=3",
        "data.num_workers=0",
        "device=cpu",
        "progress=false",
        f"out={tmp_path / 'eval'}",
        "wandb.enabled=true",
        "wandb.thumbnails=2",
        "wandb.thumbnail_size=48",
        "wandb.tags=[table1]",
    ]
    cfg = compose_config("evaluate", overrides, hydra=True)
    summary = evaluate(cfg, cfg.hydra.runtime.choices)
    assert wandb.run is None
    run = only_offline_run(tmp_path / "eval")
    assert run.job_type == "evaluate" and run.tags == ["table1"]
    assert run.name == "telea · sample · center"
    assert run.config["model"] == "telea" and run.config["n_images"] == 3
    assert run.config["config"]["mask"]["_target_"].endswith("CenterMask")
    for key in ("psnr", "ssim", "hole_psnr", "hole_l1"):
        assert run.summary[f"eval/{key}"] == pytest.approx(summary[key])
    (table_artifact,) = [a for a in run.artifacts if a["type"] == "run_table"]
    files = table_artifact["files"]
    table = json.loads(Path(files["eval/per_image.table.json"]).read_text())
    assert table["columns"][:4] == ["name", "masked input", "composite", "ground truth"]
    with (tmp_path / "eval" / "per_image.csv").open() as handle:
        expected = list(csv.DictReader(handle))
    assert [row[0] for row in table["data"]] == [r["name"] for r in expected]
    psnr_col = table["columns"].index("psnr")
    for row, csv_row in zip(table["data"], expected, strict=True):
        assert row[psnr_col] == pytest.approx(float(csv_row["psnr"]), abs=1e-5)
    for row in table["data"][:2]:
        masked, comp, truth = (load_png(Path(files[cell["path"]])) for cell in row[1:4])
        assert max(truth.shape[:2]) == 48 and truth.mean() > 30
        assert not np.array_equal(masked, comp) and not np.array_equal(comp, truth)
    assert table["data"][2][1:4] == [None, None, None]  # beyond wandb.thumbnails


def test_wandb_sync_recognises_the_offline_run(offline_run, tmp_path: Path) -> None:
    import subprocess
    import sys

    _, run, _ = offline_run
    wandb_cli = Path(sys.executable).with_name("wandb")
    result = subprocess.run(
        [str(wandb_cli), "sync", "--dry-run", str(run.path)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "WANDB_SILENT": "true"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "Would sync 1 run(s)" in output and f"run-{run.run_id}.wandb" in output


def test_grid_batch_is_float_in_unit_range_though_loaders_send_uint8(tmp_path) -> None:
    # Loaders send uint8 images / bool masks; the grid's fixed batch is converted once.
    from hydra.utils import instantiate

    from inpaintgan.callbacks import ImageGridCallback

    cfg = compose_train(TINY, tmp_path)
    datamodule = instantiate(cfg.data, mask=instantiate(cfg.mask), eval_mask=None, seed=0)
    datamodule.setup("fit")
    assert next(iter(datamodule.val_dataloader()))["image"].dtype == torch.uint8

    class FakeTrainer:
        pass

    trainer = FakeTrainer()
    trainer.datamodule = datamodule
    batch = ImageGridCallback(num_images=2, dirpath=str(tmp_path))._fixed_batch(trainer)
    assert batch["image"].dtype == torch.float32 and batch["mask"].dtype == torch.float32
    assert 0 <= float(batch["image"].min()) and float(batch["image"].max()) <= 1
    assert float(batch["image"].max()) > 0.5  # scaled from 0-255, not cast
