"""InpaintingModule without a Trainer: the loss methods, the GAN step and its guard."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch
from helpers import TINY, compose_train, tiny_batch

from inpaintgan.builders import bad_batch_limit, build_module
from inpaintgan.errors import NonFiniteLossError, UsageError, UserError
from inpaintgan.module import InpaintingModule, channels_last_for


def tiny_module(tmp_path: Path, *overrides: str) -> InpaintingModule:
    cfg = compose_train([*TINY, "loss.style_features.weights=random", *overrides], tmp_path)
    torch.manual_seed(0)
    return build_module(cfg, {})


def test_loss_methods_need_no_trainer_and_return_the_total_and_its_terms(tmp_path: Path) -> None:
    module = tiny_module(tmp_path)
    batch = tiny_batch()
    generated = module.generate(batch)
    assert torch.equal(
        generated.composite[batch["mask"].expand_as(batch["image"]) == 0],
        batch["image"][batch["mask"].expand_as(batch["image"]) == 0],
    )

    d_total, d_logs = module.discriminator_loss(batch, generated)
    assert set(d_logs) == {"d_real", "d_fake", "d_total", "D_real", "D_fake"}
    assert d_total.requires_grad and torch.equal(d_total.detach(), d_logs["d_total"])
    assert not any(v.requires_grad for v in d_logs.values())
    d_total.backward()  # D's loss sees the composite detached: no gradient reaches G
    assert all(p.grad is None for p in module.generator.parameters())
    assert any(p.grad is not None for p in module.discriminator.parameters())

    g_total, g_logs = module.generator_loss(batch, generated)
    assert {"g_rec", "g_adv", "g_style", "g_total"} <= set(g_logs)
    assert torch.equal(g_total.detach(), g_logs["g_total"])
    loss = module.loss
    weighted = loss.rec_weight * g_logs["g_rec"] + loss.adv_weight * g_logs["g_adv"]
    assert g_logs["g_total"] >= weighted  # the weighted sum of non-negative terms

    # Without a cached pass the methods run the generator themselves: same values (in eval
    # mode, where spectral norm and batch norm keep their state between calls).
    module.eval()
    with torch.no_grad():
        cached = module.generate(batch)
        for loss_method in (module.generator_loss, module.discriminator_loss):
            assert torch.allclose(loss_method(batch)[0], loss_method(batch, cached)[0])


def test_gan_step_without_a_trainer_steps_both_networks_in_phases(tmp_path: Path) -> None:
    module = tiny_module(tmp_path)
    opt_g, opt_d = module.configure_optimizers()
    before_g = [p.detach().clone() for p in module.generator.parameters()]
    before_d = [p.detach().clone() for p in module.discriminator.parameters()]
    phases: list[str] = []
    logs = module.gan_step(tiny_batch(), opt_g, opt_d, phase=phases.append)
    assert phases == ["G forward", "D step", "G losses forward", "G backward + Adam"]
    assert {"d_total", "D_real", "D_fake", "d_grad_norm", "g_total", "g_grad_norm"} <= set(logs)
    assert math.isfinite(logs["g_grad_norm"]) and math.isfinite(logs["d_grad_norm"])
    after_g = list(module.generator.parameters())
    after_d = list(module.discriminator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before_g, after_g, strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, after_d, strict=True))
    # Each step froze the other network only while it ran.
    assert all(p.requires_grad for p in module.parameters() if p.is_floating_point())


def test_guard_skips_non_finite_batches_then_stops_without_a_trainer(tmp_path: Path) -> None:
    module = tiny_module(tmp_path, "max_bad_batches=2")
    opt_g, opt_d = module.configure_optimizers()
    before = [p.detach().clone() for p in module.generator.parameters()]
    rec_weight = module.loss.rec_weight
    module.loss.rec_weight = float("inf")  # G's loss is not finite; D's still is

    with pytest.warns(UserWarning, match=r"non-finite g loss/gradient .*\(1 in a row\)"):
        logs = module.gan_step(tiny_batch(), opt_g, opt_d)
    assert math.isnan(logs["g_grad_norm"]) and math.isfinite(logs["d_grad_norm"])
    assert int(module.skipped_batches) == 1 and module.guard.bad_batches_in_a_row == 1
    assert all(
        torch.equal(a, b) for a, b in zip(before, module.generator.parameters(), strict=True)
    )
    with pytest.warns(UserWarning), pytest.raises(NonFiniteLossError, match="2 consecutive"):
        module.gan_step(tiny_batch(), opt_g, opt_d)
    assert int(module.skipped_batches) == 2

    module.loss.rec_weight = rec_weight  # a good batch steps G and resets the count in a row
    logs = module.gan_step(tiny_batch(), opt_g, opt_d)
    assert math.isfinite(logs["g_grad_norm"])
    assert module.guard.bad_batches_in_a_row == 0 and int(module.skipped_batches) == 2
    assert any(
        not torch.equal(a, b) for a, b in zip(before, module.generator.parameters(), strict=True)
    )


def test_the_bad_batch_limit_takes_its_old_name_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert bad_batch_limit(compose_train([], tmp_path)) == 10
    assert tiny_module(tmp_path, "max_bad_batches=3").guard.max_bad_batches == 3
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="inpaintgan.builders"):
        module = tiny_module(tmp_path, "max_bad_steps=4")
    assert module.guard.max_bad_batches == 4
    (record,) = caplog.records
    assert "max_bad_steps is deprecated: use max_bad_batches=4" == record.getMessage()
    for key in ("max_bad_batches", "max_bad_steps"):
        with pytest.raises(UsageError, match=f"^{key}=0: must be a whole number >= 1$"):
            bad_batch_limit(compose_train([f"{key}=0"], tmp_path), warn=False)


def test_channels_last_rule() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert channels_last_for("auto", cuda) and not channels_last_for("auto", cpu)
    assert channels_last_for(True, cpu) and not channels_last_for(False, cuda)
    with pytest.raises(ValueError, match="channels_last must be"):
        channels_last_for("nhwc", cpu)


class NamedModule(InpaintingModule):
    """A LightningModule a model config can name in place of InpaintingModule."""


def test_the_model_config_names_the_module_it_builds(tmp_path: Path) -> None:
    module = tiny_module(tmp_path)
    assert type(module) is InpaintingModule and module.variant == "paper"
    assert module.optimizer_g.func is torch.optim.Adam  # the _partial_ optimiser of conf/optim
    custom = tiny_module(tmp_path, "model._target_=test_module.NamedModule")
    assert type(custom).__name__ == "NamedModule"
    with pytest.raises(UserError, match="names no LightningModule"):
        tiny_module(tmp_path, "~model._target_")


def test_test_step_logs_test_keys_and_validation_val_keys(tmp_path: Path, monkeypatch) -> None:
    module = tiny_module(tmp_path).eval()
    logged: list[str] = []
    monkeypatch.setattr(module, "log_dict", lambda values, **_: logged.extend(values))
    with torch.no_grad():
        module.test_step(tiny_batch(), 0)
        assert logged and all(key.startswith("test/g_") for key in logged), logged
        logged.clear()
        module.validation_step(tiny_batch(), 0)
    assert logged and all(key.startswith("val/g_") for key in logged), logged


def test_the_bad_batch_count_in_a_row_travels_with_the_checkpoint(tmp_path: Path) -> None:
    module = tiny_module(tmp_path, "max_bad_batches=3")
    opt_g, opt_d = module.configure_optimizers()
    module.loss.rec_weight = float("inf")
    with pytest.warns(UserWarning, match=r"\(1 in a row\)"):
        module.gan_step(tiny_batch(), opt_g, opt_d)
    checkpoint: dict = {}
    module.on_save_checkpoint(checkpoint)
    resumed = tiny_module(tmp_path, "max_bad_batches=3")
    resumed.on_load_checkpoint(checkpoint)
    assert resumed.guard.bad_batches_in_a_row == 1
    opt_g, opt_d = resumed.configure_optimizers()
    resumed.loss.rec_weight = float("inf")
    with pytest.warns(UserWarning, match=r"\(2 in a row\)"):
        resumed.gan_step(tiny_batch(), opt_g, opt_d)
    resumed.on_load_checkpoint({})  # a checkpoint from before the count: starts at 0
    assert resumed.guard.bad_batches_in_a_row == 0


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("model.generator.hole_fill=grey", ["model.generator", "hole_fill", "'grey'"]),
        ("model.generator.norm=instnace", ["model.generator", "norm must be one of", "instnace"]),
        ("model.discriminator.norm=batchnorm", ["model.discriminator", "batchnorm"]),
    ],
)
def test_a_value_a_network_refuses_is_one_line_naming_its_key(
    tmp_path: Path, override: str, fragments: list[str]
) -> None:
    """A typo in a network's option stops the run in one line (before: a Hydra traceback, or
    for ``norm`` a network silently built without its norm layers)."""
    with pytest.raises(UserError) as err:
        tiny_module(tmp_path, override)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
