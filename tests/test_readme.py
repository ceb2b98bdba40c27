"""Every default the README names equals the code's: the signature of the Python API and
the composed configs of the commands. A README edit that changes a stated default, or a code
change that moves one, fails here."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import compose_config
from omegaconf import OmegaConf

from inpaintgan.config import CONFIG_DIR

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
FLAT = re.sub(r"\s+", " ", README)  # statements wrap across lines


def config(name: str, overrides: list[str] | None = None) -> Any:
    return compose_config(name, overrides)


def stated(pattern: str) -> tuple[str, ...]:
    """The groups of the README's one statement matching ``pattern`` (whitespace-collapsed)."""
    found = re.search(pattern, FLAT)
    assert found, f"the README no longer states /{pattern}/: update it or this test"
    return found.groups()


def test_load_inpainter_defaults_are_the_signatures() -> None:
    from inpaintgan import load_inpainter

    device, max_side, max_pixels = stated(
        r'`load_inpainter\(ckpt, device="(\w+)",\s+max_side=(\w+), max_pixels=([\d_]+)\)`'
    )
    params = inspect.signature(load_inpainter).parameters
    assert device == params["device"].default
    assert max_side == str(params["max_side"].default)
    assert int(max_pixels) == params["max_pixels"].default


def test_predict_max_side_default_is_its_config() -> None:
    (value,) = stated(r"as `predict` does by default: `max_side=(\d+)` in its config")
    assert int(value) == config("predict").max_side


def test_demo_address_is_its_config() -> None:
    host, port = stated(r"opens a local page \(`http://([\d.]+):(\d+)`\)")
    cfg = config("demo")
    assert (host, int(port)) == (cfg.host, cfg.port)


def test_make_train_settings_are_the_sample_experiment() -> None:
    side, batches, batch = stated(r"at (\d+)×\1, 1/4 width, ([\d,]+) batches of (\d+)")
    cfg = config("train", ["experiment=sample"])
    assert int(side) == cfg.data.size
    assert int(batches.replace(",", "")) == cfg.max_batches
    assert int(batch) == cfg.data.batch_size
    assert cfg.model.generator.base_channels * 4 == config("train").model.generator.base_channels
    assert cfg.loss.style_weight == 0  # "style term off"
    assert "make train" in README and "+experiment=sample" in README


def test_bare_train_command_settings() -> None:
    batch, epochs = stated(r"held out for validation, batch (\d+), (\d+) epochs\)")
    style = stated(r"with the style term at (\d+)")[0]
    cfg = config("train")
    assert int(batch) == cfg.data.batch_size
    assert int(epochs) == cfg.trainer.max_epochs
    assert float(style) == cfg.loss.style_weight


def test_progress_line_interval_is_the_callbacks_config() -> None:
    (every,) = stated(r"`callbacks\.progress\.every_n_batches` \((\d+)\)")
    (tour,) = stated(r"a plain line every (\d+) batches, also in the run's `train\.log`")
    cfg = config("train", ["experiment=sample"])
    assert int(every) == int(tour) == cfg.callbacks.progress.every_n_batches


def test_bad_batch_limit_is_the_config() -> None:
    (limit,) = stated(r"`max_bad_batches` \((\d+)\) of them in a row")
    assert int(limit) == config("train").max_bad_batches


def test_optimiser_defaults_are_the_config() -> None:
    lr, beta1, beta2 = stated(r"Adam ([\d.e-]+), betas \(([\d.]+), ([\d.]+)\) for both networks")
    optim = OmegaConf.to_container(config("train").optim)
    for net in ("generator", "discriminator"):
        assert float(lr) == optim[net]["lr"]
        assert [float(beta1), float(beta2)] == optim[net]["betas"]


@pytest.mark.parametrize(
    "group, options",
    [
        ("model", "paper, shiftnet, ce"),
        ("trainer", "default, cpu, gpu, ddp, ddp_cpu"),
        ("logger", "default, csv, wandb, tensorboard"),
    ],
)
def test_config_groups_listed_exist(group: str, options: str) -> None:
    assert f"`{group}` ({options})" in FLAT
    for option in options.split(", "):
        assert (Path(CONFIG_DIR) / group / f"{option}.yaml").is_file()


def test_makefile_sweep_help_counts_its_settings() -> None:
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    (line,) = [row for row in makefile.splitlines() if row.startswith("sweep:")]
    run = makefile.split(line, 1)[1].splitlines()[1]
    values = re.search(r"loss\.style_weight=([\d.,]+)", run).group(1).split(",")
    words = {2: "two", 3: "three", 4: "four"}
    assert f"{words[len(values)]} settings" in line
