"""The Hydra app composes: groups, experiments, sweeps, launchers, and from an installed wheel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO_ROOT, TINY, run_cli
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from inpaintgan.config import CLASSICAL_CONFIG_DIR, CONFIG_DIR, accept_plus_experiment

EXPERIMENTS = sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


def _compose(overrides: list[str], hydra_config: bool = False):
    """The training config `python -m inpaintgan.train OVERRIDES` composes."""
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
    cfg = _compose([f"experiment={name}"])
    assert cfg.loss.style_weight == pytest.approx(10.0)
    assert cfg.model.discriminator_input.mode == "hole_box"
    ce = _compose([f"experiment={name}_ce"])
    assert ce.mask._target_.endswith("CenterMask") and ce.model.generator.predict == "center"
    assert ce.model.discriminator.image_size == 128  # D on the 128x128 center of 256


def test_experiment_and_plus_experiment_compose_the_same_config() -> None:
    """train.yaml lists `experiment: null`, so `experiment=NAME` selects a preset; the train
    command reads the earlier spelling `+experiment=NAME` as the same override."""
    assert _compose([]).get("tags") == ["sample"]  # no preset by default
    args = ["-m", "+experiment=places2,celeba", "model=ce", "+experiment_x=1"]
    assert accept_plus_experiment(args) == ["-m", "experiment=places2,celeba", "model=ce", args[3]]
    for name in ("places2", "sample"):
        plain = _compose([f"experiment={name}"], True)
        plus = _compose(accept_plus_experiment([f"+experiment={name}"]), True)
        assert OmegaConf.to_container(plain) == OmegaConf.to_container(plus) != {}
        assert plain.hydra.runtime.choices.experiment == name


def test_loss_is_chosen_in_train_yaml_by_the_model_choice() -> None:
    """`loss: ${model}` in train.yaml's defaults: each model trains with its own objective
    (conf/loss/<model>.yaml) unless `loss=NAME` says otherwise, and an experiment that picks
    a model picks its loss too."""
    for model in ("paper", "shiftnet", "ce"):
        cfg = _compose([f"model={model}"], True)
        assert cfg.hydra.runtime.choices.loss == model
        assert cfg.loss == OmegaConf.load(Path(CONFIG_DIR) / "loss" / f"{model}.yaml")
    crossed = _compose(["model=shiftnet", "loss=paper"], True)
    assert crossed.model.name == "shiftnet" and crossed.hydra.runtime.choices.loss == "paper"
    assert crossed.loss.style_weight == 10.0
    assert _compose(["experiment=places2_ce"], True).hydra.runtime.choices.loss == "ce"
    assert _compose(["experiment=scenes_small", "model=ce"]).loss.reconstruction == "l2"


def test_model_group_holds_the_trainable_models_only() -> None:
    """conf/model/: LightningModules, each the shared base (conf/base/model.yaml) with every
    part filled in; the classical fills live in conf/classical/model/ and still compose as
    `model=NAME` where they are accepted (train only to refuse them)."""
    trainable = sorted(p.stem for p in (Path(CONFIG_DIR) / "model").glob("*.yaml"))
    assert trainable == ["ce", "paper", "shiftnet"]
    for name in trainable:
        model = _compose([f"model={name}"]).model
        assert model.name == name and model._target_ == "inpaintgan.module.InpaintingModule"
        assert not OmegaConf.missing_keys(model)  # name, generator, discriminator all given
        assert model.generator._target_ and model.discriminator._target_
    classical = sorted(p.stem for p in Path(CLASSICAL_CONFIG_DIR).glob("*.yaml"))
    assert classical == ["mean_fill", "ns", "telea"]
    for command in ("evaluate", "predict", "demo", "train"):
        for name in classical:
            with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
                model = compose(command, overrides=[f"model={name}"]).model
            assert model.name == name and model.inpainter.method == name
            assert model.generator is None and "_target_" not in model
    assert "loss" not in _compose(["model=telea"])  # no objective for a classical fill


def test_debug_tiny_is_the_tests_tiny_setup() -> None:
    """`debug=tiny` (conf/debug/tiny.yaml) composes what helpers.TINY spells out, alone and
    on top of an experiment (it comes after the experiment in train.yaml's defaults)."""
    assert _compose(["debug=tiny"]) == _compose(TINY)
    assert _compose(["experiment=places2", "debug=tiny"]) == _compose(["experiment=places2", *TINY])
    tiny = _compose(["debug=tiny"])
    assert tiny.data.size == 64 and tiny.trainer.limit_train_batches == 2
    assert "wandb" not in tiny.logger and _compose([]).data.size == 128  # only when asked


TABLE1_EXPERIMENTS = [n for n in EXPERIMENTS if n.split("_")[0] in ("celeba", "places2")]


@pytest.mark.parametrize("name", TABLE1_EXPERIMENTS)
def test_every_table1_experiment_composes(name: str) -> None:
    cfg = _compose([f"experiment={name}"])
    assert cfg.data.size == 256
    dataset, _, variant = name.partition("_")
    assert dataset in cfg.data.source._target_.lower()
    assert cfg.model.name == (variant or "paper")


def test_make_train_experiment_is_small_scale_with_style_off() -> None:
    """`make train` = +experiment=sample: 1/4 width, a batch budget, style off (random VGG)."""
    cfg = _compose(["experiment=sample"])
    assert "sample" in cfg.data.source._target_.lower() and cfg.model.name == "paper"
    assert cfg.loss.style_weight == 0 and cfg.loss.hole_weight > 0
    assert cfg.model.generator.base_channels == 16 and cfg.max_batches > 0
    makefile = (Path(CONFIG_DIR).parent / "Makefile").read_text()
    assert "+experiment=sample" in makefile


def test_small_scale_results_experiment_composes() -> None:
    cfg = _compose(["experiment=scenes_small", "model=shiftnet"])
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
    plain = run_cli("inpaintgan.train", "experiment=places2", "--cfg", "job")
    assert plain.returncode == 0, plain.stderr
    assert yaml.safe_load(plain.stdout) == printed  # both spellings, one config


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
    installed = {"cwd": elsewhere, "env": {"PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}}
    result = run_cli("inpaintgan.train", "+experiment=celeba", "--cfg", "job", **installed)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["model"]["name"] == "paper"
    # conf/classical on the search path of an installed wheel too
    telea = run_cli("inpaintgan.evaluate", "model=telea", "--cfg", "job", **installed)
    assert telea.returncode == 0, telea.stderr
    assert yaml.safe_load(telea.stdout)["model"]["inpainter"]["method"] == "telea"
    where = run_cli("inpaintgan.config", **installed)
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(site))
