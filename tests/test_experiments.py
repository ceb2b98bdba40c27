"""Table-1 experiments: each composes (Hydra's compose API) to the batch-32 GPU protocol or,
with ``protocol=literal``, the reference's batch-1 one; the end-of-training evaluation
command composes in ``evaluate``'s config and scores the whole test split."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict
from PIL import Image

from inpaintgan.config import CONFIG_DIR
from inpaintgan.table1 import (
    STEP_GFLOP,
    TRAIN_IMAGES,
    estimated_hours,
    evaluation_command,
    log_evaluation_command,
)

TABLE1 = [
    f"{dataset}{variant}"
    for dataset in ("places2", "celeba")
    for variant in ("", "_shiftnet", "_ce")
]
REFERENCE_LR = 2.0e-4  # Shift-Net's Adam learning rate at batch 1


def _compose(overrides: list[str], config: str = "train", hydra: bool = False):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config, overrides=overrides, return_hydra_config=hydra)


def test_every_table1_experiment_is_a_table1_experiment() -> None:
    """The six train with the batch-32 protocol (conf/base/table1.yaml); no other preset does."""
    found = sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))
    assert set(TABLE1) <= set(found)
    for name in found:
        choices = _compose([f"experiment={name}"], hydra=True).hydra.runtime.choices
        assert (choices.get("protocol") == "batch32") == (name in TABLE1), name


def _differences(a, b, prefix: str = "") -> set[str]:
    """The dotted keys whose values differ between two composed configs (top-down)."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return set() if a == b else {prefix.rstrip(".")}
    keys = set(a) | set(b)
    return {d for k in keys for d in _differences(a.get(k), b.get(k), f"{prefix}{k}.")}


def _composed(name: str) -> dict:
    return OmegaConf.to_container(_compose([f"experiment={name}", "data.root=/data"]))


def _top(differences: set[str]) -> set[str]:
    return {d.split(".")[0] for d in differences}


def test_scenes_6k_is_scenes_small_three_times_as_long() -> None:
    """The final small-scale setting differs from scenes_small only in its length, its
    annealing (spanning the run: 6,000 batches / 20 per epoch) and its tag."""
    short, long = _composed("scenes_small"), _composed("scenes_6k")
    assert _differences(short, long) == {"max_batches", "optim.scheduler.T_max", "tags"}
    assert long["max_batches"] == 3 * short["max_batches"] == 6000
    assert long["optim"]["scheduler"]["T_max"] == 6000 // (80 // long["data"]["batch_size"])
    # both carry the small recipe's ring-mean hole fill; the Table-1 experiments keep grey
    assert long["model"]["generator"]["hole_fill"] == "ring_mean"
    assert _composed("places2")["model"]["generator"]["hole_fill"] == "zero"


@pytest.mark.parametrize("dataset", ["places2", "celeba"])
def test_table1_experiments_of_a_data_set_differ_only_in_the_model(dataset: str) -> None:
    """Each Table-1 experiment is the shared base plus its data set and model: the three of
    a data set differ in the model, its loss, the tags and (ce) the center training mask."""
    paper = _composed(dataset)
    assert _top(_differences(paper, _composed(f"{dataset}_shiftnet"))) == {"model", "loss", "tags"}
    ce = _top(_differences(paper, _composed(f"{dataset}_ce")))
    assert ce == {"model", "loss", "tags", "mask"}


@pytest.mark.parametrize("model", ["", "_shiftnet", "_ce"])
def test_table1_experiments_of_a_model_differ_only_in_the_data_set(model: str) -> None:
    """places2 and celeba runs of one model share everything but the data set, the tags and
    how often they validate (per epoch: Places365 is 11x larger)."""
    differ = _differences(_composed(f"places2{model}"), _composed(f"celeba{model}"))
    assert _top(differ) == {"data", "tags", "trainer"}
    assert {d for d in differ if d.startswith("trainer")} == {"trainer.val_check_interval"}


@pytest.mark.parametrize("name", TABLE1)
def test_default_protocol_is_batch_32_per_gpu_with_a_fixed_val_subset(name: str) -> None:
    cfg = _compose([f"experiment={name}"])
    assert cfg.data.size == 256 and cfg.data.batch_size == 32
    assert cfg.data.eval_batch_size in (None, 32)
    assert cfg.data.val_subset == 2000
    assert cfg.data.num_workers == 8 and cfg.data.persistent_workers and cfg.data.pin_memory
    # the learning-rate rule "kept": the reference's Adam settings at every batch size
    for net in ("generator", "discriminator"):
        assert cfg.optim[net].lr == pytest.approx(REFERENCE_LR)
        assert list(cfg.optim[net].betas) == [0.5, 0.999]
    assert cfg.trainer.max_epochs == 30 and cfg.trainer.precision == "bf16-mixed"
    # a fraction of an epoch, so it holds whatever the number of GPUs (epoch length)
    assert isinstance(cfg.trainer.val_check_interval, float)
    assert 0 < cfg.trainer.val_check_interval <= 1
    assert cfg.eval_mask._target_.endswith("CenterMask")


@pytest.mark.parametrize("name", TABLE1)
def test_literal_protocol_is_the_reference_batch_1(name: str) -> None:
    cfg = _compose([f"experiment={name}", "protocol=literal"])
    assert cfg.data.batch_size == 1 and cfg.data.eval_batch_size == 1
    assert cfg.data.val_subset is None
    assert cfg.trainer.val_check_interval == 5000
    assert cfg.optim.generator.lr == pytest.approx(REFERENCE_LR)
    default = _compose([f"experiment={name}"])
    for key in ("model", "loss", "mask", "eval_mask"):  # only the protocol differs
        assert cfg[key] == default[key], key
    assert cfg.data.size == default.data.size and cfg.trainer.max_epochs == 30


def test_command_line_still_wins_over_the_protocol() -> None:
    cfg = _compose(
        [
            "experiment=places2",
            "trainer=ddp",
            "trainer.devices=8",
            "data.batch_size=16",
            "data.val_subset=500",
            "optim.generator.lr=1e-4",
        ]
    )
    assert cfg.trainer.devices == 8 and cfg.trainer.strategy.startswith("ddp")
    assert cfg.data.batch_size == 16 and cfg.data.val_subset == 500
    assert cfg.optim.generator.lr == pytest.approx(1e-4)
    assert cfg.optim.discriminator.lr == pytest.approx(REFERENCE_LR)
    assert cfg.data.num_workers == 8  # per rank


def _photo(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(seed).integers(0, 256, (40, 40, 3), np.uint8)
    Image.fromarray(noise).save(path)


@pytest.fixture
def places(tmp_path: Path) -> Path:
    """Places365 file lists with 4 training and 10 validation images at 40x40."""
    root = tmp_path / "places365"
    train = [f"/a/airfield/{i:08d}.jpg 0" for i in range(1, 5)]
    val = [f"Places365_val_{i:08d}.jpg {i}" for i in range(1, 11)]
    for i, line in enumerate(train):
        _photo(root / "data_256" / line.split()[0].lstrip("/"), i)
    for i, line in enumerate(val):
        _photo(root / "val_256" / line.split()[0], 20 + i)
    (root / "places365_train_standard.txt").write_text("\n".join(train) + "\n")
    (root / "places365_val.txt").write_text("\n".join(val) + "\n")
    return root


def test_experiment_data_module_validates_on_the_subset_and_tests_on_all(places: Path) -> None:
    cfg = _compose(
        ["experiment=places2", f"data.root={places}", "data.val_subset=4", "data.num_workers=0"]
    )
    dm = instantiate(cfg.data, mask=instantiate(cfg.mask), eval_mask=instantiate(cfg.eval_mask))
    dm.setup("fit")
    dm.setup("test")
    assert (dm.batch_size, dm.eval_batch_size) == (32, 32)
    assert len(dm.dataset("val")) == 4 and len(dm.dataset("test")) == 10


def _evaluate_overrides(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "inpaintgan.evaluate"]
    return words[3:]


def test_evaluation_command_scores_the_whole_test_split(places: Path, tmp_path: Path) -> None:
    train_cfg = _compose(  # with hydra: its recorded choices name the data group
        ["experiment=places2_shiftnet", f"data.root={places}", "data.resolution=small"], hydra=True
    )
    with open_dict(train_cfg):
        train_cfg.paths.output_dir = str(tmp_path / "run dir")  # a space: quoted
    command = evaluation_command(train_cfg, tmp_path / "run dir" / "best.ckpt")
    overrides = _evaluate_overrides(command)
    assert f"ckpt={tmp_path / 'run dir' / 'best.ckpt'}" in overrides
    assert {"data=places2", "split=test", "mask=center", "name=shiftnet"} <= set(overrides)
    assert f"out={tmp_path / 'run dir' / 'evaluate_test'}" in overrides
    eval_cfg = _compose([o for o in overrides if not o.startswith("ckpt=")], "evaluate")
    assert eval_cfg.data.root == str(places) and eval_cfg.data.resolution == "small"
    assert eval_cfg.data.size == 256 and eval_cfg.split == "test"
    rng = np.random.default_rng(0)  # the same center hole as validation
    hole = instantiate(eval_cfg.mask)(256, 256, rng)
    assert np.array_equal(hole, instantiate(train_cfg.eval_mask)(256, 256, rng))
    assert eval_cfg.seed == train_cfg.seed
    with open_dict(eval_cfg):
        eval_cfg.data.num_workers = 0
    dm = instantiate(eval_cfg.data, mask=instantiate(eval_cfg.mask))
    assert len(dm.dataset("test")) == 10  # all of it: no val_subset in evaluate


def test_evaluation_command_keeps_a_non_default_center_hole(tmp_path: Path) -> None:
    train_overrides = ["experiment=celeba_ce", "+eval_mask.overlap=4", "data.root=/data/celeba"]
    cfg = _compose(train_overrides, hydra=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    overrides = _evaluate_overrides(evaluation_command(cfg, "x.ckpt"))
    assert "mask.overlap=4" in overrides and "data=celeba" in overrides
    assert not any(o.startswith("data.variant") for o in overrides)
    eval_cfg = _compose([o for o in overrides if not o.startswith("ckpt=")], "evaluate")
    assert eval_cfg.mask.overlap == 4 and eval_cfg.data.root == "/data/celeba"


def test_log_evaluation_command_prefers_best_then_last(tmp_path: Path, caplog) -> None:
    cfg = _compose(["experiment=celeba", "data.root=/data/celeba"], hydra=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    best = SimpleNamespace(
        is_global_zero=True,
        checkpoint_callback=SimpleNamespace(best_model_path=str(tmp_path / "best.ckpt")),
    )
    with caplog.at_level(logging.INFO, logger="inpaintgan"):
        command = log_evaluation_command(cfg, best)
    assert command and "best.ckpt" in command and command in caplog.text
    none = SimpleNamespace(is_global_zero=True, checkpoint_callback=None)
    assert log_evaluation_command(cfg, none) is None  # no checkpoint on disk yet
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert "last.ckpt" in log_evaluation_command(cfg, none)
    assert log_evaluation_command(cfg, SimpleNamespace(is_global_zero=False)) is None


def test_time_estimate_arithmetic() -> None:
    one = estimated_hours("paper", "places2", gpus=1, mfu=0.2)
    images = TRAIN_IMAGES["places2"] * 30
    assert one == pytest.approx(images * STEP_GFLOP["paper"] * 1e9 / (989e12 * 0.2) / 3600)
    assert estimated_hours("paper", "places2", gpus=8) == pytest.approx(one / (8 * 0.9))
    assert estimated_hours("paper", "places2", mfu=0.4) == pytest.approx(one / 2)
    ratio = estimated_hours("ce", "celeba") / estimated_hours("paper", "celeba")
    assert ratio == pytest.approx(STEP_GFLOP["ce"] / STEP_GFLOP["paper"])
