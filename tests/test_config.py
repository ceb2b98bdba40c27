"""The Hydra app composes: groups, experiments, sweeps, launchers, and from an installed wheel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO_ROOT, run_cli
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from inpaintgan.config import CONFIG_DIR

EXPERIMENTS = sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


def _compose(overrides: list[str], hydra_config: bool = False):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=hydra_config)


def test_default_config_trains_paper_model_on_sample_data() -> None:
    cfg = _compose([])
    assert cfg.model.name == "paper"
    assert "sample" in cfg.data.source._target_.lower()
    assert cfg.loss.adv_weight == pytest.approx(0.002)
    assert cfg.loss.guidance_weight == pytest.approx(0.01)
    assert cfg.loss.style_weight == pytest.approx(10.0)
    assert cfg.loss.rec_weight == pytest.approx(1.0)
    assert cfg.loss.hole_weight == pytest.approx(4.0)
    assert cfg.eval_mask._target_.endswith("CenterMask") and cfg.mask._target_.endswith("MixedMask")


@pytest.mark.parametrize("name", ["celeba", "places2"])
def test_table1_paper_experiments_keep_the_papers_style_term(name: str) -> None:
    cfg = _compose([f"+experiment={name}"])
    assert cfg.loss.style_weight == pytest.approx(10.0)
    assert cfg.model.discriminator_input.mode == "hole_box"
    ce = _compose([f"+experiment={name}_ce"])
    assert ce.mask._target_.endswith("CenterMask") and ce.model.generator.predict == "center"
    assert ce.model.discriminator.image_size == 128  # D on the 128x128 center of 256


def test_experiment_is_not_in_defaults_so_plus_experiment_works() -> None:
    defaults = yaml.safe_load((Path(CONFIG_DIR) / "train.yaml").read_text())["defaults"]
    assert not any("experiment" in str(entry) for entry in defaults)


TABLE1_EXPERIMENTS = [n for n in EXPERIMENTS if n.split("_")[0] in ("celeba", "places2")]


@pytest.mark.parametrize("name", TABLE1_EXPERIMENTS)
def test_every_table1_experiment_composes(name: str) -> None:
    cfg = _compose([f"+experiment={name}"])
    assert cfg.data.size == 256
    dataset, _, variant = name.partition("_")
    assert dataset in cfg.data.source._target_.lower()
    assert cfg.model.name == (variant or "paper")


def test_make_train_experiment_is_small_scale_with_style_off() -> None:
    """`make train` = +experiment=sample: 1/4 width, a batch budget, style off (random VGG)."""
    cfg = _compose(["+experiment=sample"])
    assert "sample" in cfg.data.source._target_.lower() and cfg.model.name == "paper"
    assert cfg.loss.style_weight == 0 and cfg.loss.hole_weight > 0
    assert cfg.model.generator.base_channels == 16 and cfg.max_batches > 0
    makefile = (Path(CONFIG_DIR).parent / "Makefile").read_text()
    assert "+experiment=sample" in makefile


def test_small_scale_results_experiment_composes() -> None:
    cfg = _compose(["+experiment=scenes_small", "model=shiftnet"])
    assert cfg.data.size == 128 and cfg.model.name == "shiftnet"
    assert cfg.max_batches > 0 and "folder" in cfg.data.source._target_.lower()


def test_model_variant_selects_its_own_loss_and_cli_still_overrides() -> None:
    shiftnet = _compose(["model=shiftnet"])
    assert shiftnet.loss.style_weight == 0
    ce = _compose(["model=ce"])
    assert ce.loss.reconstruction == "l2"
    assert _compose(["model=ce", "loss.adv_weight=0.5"]).loss.adv_weight == 0.5


def test_slurm_launcher_composes() -> None:
    cfg = _compose(["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4"], True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert "submitit" in launcher["_target_"].lower() and "slurm" in launcher["_target_"].lower()
    assert launcher["gpus_per_node"] == 4 and launcher["tasks_per_node"] == 4


def test_optuna_sweep_composes() -> None:
    cfg = _compose(["+sweep=lambda_optuna"], True)
    assert "optuna" in cfg.hydra.sweeper._target_.lower()
    assert set(cfg.hydra.sweeper.params) >= {"loss.adv_weight", "loss.style_weight"}


def test_cli_prints_composed_experiment_config() -> None:
    result = run_cli("inpaintgan.train", "+experiment=places2", "--cfg", "job")
    assert result.returncode == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    assert printed["model"]["name"] == "paper"
    assert printed["data"]["size"] == 256


def test_cli_help_lists_groups() -> None:
    result = run_cli("inpaintgan.train", "--help")
    assert result.returncode == 0, result.stderr
    for group in ("data=", "mask=", "model=", "+experiment=", "trainer="):
        assert group in result.stdout
    hydra_page = run_cli("inpaintgan.train", "--hydra-help")  # Hydra's own full page
    assert hydra_page.returncode == 0 and "--cfg" in hydra_page.stdout


@pytest.mark.slow
def test_configs_are_found_after_a_non_editable_install(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(REPO_ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    assert (site / "inpaintgan" / "conf" / "train.yaml").is_file()
    assert (site / "inpaintgan" / "sample_data" / "NOTICE").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli(
        "inpaintgan.train",
        "+experiment=celeba",
        "--cfg",
        "job",
        cwd=elsewhere,
        env={"PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["model"]["name"] == "paper"
    where = run_cli(
        "inpaintgan.config", cwd=elsewhere, env={"PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}
    )
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(site))
