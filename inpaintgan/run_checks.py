"""The checks a training run passes before anything heavy is built: its config, and the
checkpoint it resumes from.

:func:`check_config` refuses a bad value in one line naming the key, the value and what is
allowed (a :class:`~inpaintgan.errors.UserError`); :func:`resume_checkpoint` reads the
checkpoint to resume (``ckpt=``; the old ``ckpt_path=`` still works, with a deprecation
warning) and :func:`check_resume` refuses one that cannot continue this config (an exported
generator, another variant, width or size). ``python -m inpaintgan.train`` runs them first.
"""

from __future__ import annotations

import inspect
import logging
import math
from typing import Any, get_args

import torch
from hydra.utils import get_class
from lightning_fabric.connector import _PRECISION_INPUT_STR, _PRECISION_INPUT_STR_ALIAS
from omegaconf import DictConfig, OmegaConf, open_dict

from inpaintgan.builders import bad_batch_limit
from inpaintgan.checkpoints import CHECKPOINT_KEY, read_checkpoint
from inpaintgan.config import one_of, real_number, whole_number
from inpaintgan.errors import UsageError, UserError

__all__ = [
    "check_config",
    "check_model",
    "check_optim",
    "check_resume",
    "check_sizes",
    "check_trainer",
    "read_resume_metadata",
    "resume_checkpoint",
]

log = logging.getLogger(__name__)

#: The ``trainer.precision`` values Lightning accepts (its own list, and the short forms).
PRECISIONS = (*get_args(_PRECISION_INPUT_STR), *get_args(_PRECISION_INPUT_STR_ALIAS))


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check_model(cfg: DictConfig) -> None:
    """``model`` must be a trainable variant (a generator config), not a classical method."""
    model = cfg.get("model")
    name = (model or {}).get("name") if isinstance(model, DictConfig) else None
    if model is None or (model.get("generator") is None and model.get("inpainter") is not None):
        raise UsageError(
            f"model={name}: a classical method, nothing to train; train one of "
            "model=paper|shiftnet|ce, and score "
            f"{name or 'it'} with python -m inpaintgan.evaluate model={name}"
        )
    if model.get("generator") is None or model.get("_target_") is None:
        raise UsageError(
            f"model={name}: not a trainable model config (it needs a generator); "
            "use model=paper|shiftnet|ce"
        )


def check_trainer(cfg: DictConfig) -> None:
    """Trainer options with a one-line message each; the accelerator this machine has."""
    trainer = cfg.get("trainer") or {}
    # -1: no limit (Lightning's convention)
    whole_number(trainer.get("max_epochs"), "trainer.max_epochs", minimum=-1, none=True)
    whole_number(trainer.get("max_steps", -1), "trainer.max_steps", minimum=-1)
    precision = trainer.get("precision")
    if precision is not None:
        one_of(str(precision), "trainer.precision", PRECISIONS)
    accelerator = str(trainer.get("accelerator") or "auto")
    one_of(accelerator, "trainer.accelerator", ("auto", "cpu", "gpu", "cuda", "mps", "tpu"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise UsageError(
            f"trainer.accelerator={accelerator}: this machine has no CUDA GPU; "
            "add trainer=cpu (or trainer.accelerator=cpu) to train on the CPU"
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise UsageError("trainer.accelerator=mps: MPS is not available here; use trainer=cpu")
    devices = trainer.get("devices")
    if accelerator in ("gpu", "cuda") and isinstance(devices, int) and devices > 0:
        count = torch.cuda.device_count()
        if devices > count:
            raise UsageError(f"trainer.devices={devices}: this machine has {count} CUDA GPU(s)")


def check_optim(cfg: DictConfig) -> None:
    """Learning rates finite and > 0, Adam betas in [0, 1)."""
    for name, part in (cfg.get("optim") or {}).items():
        if not isinstance(part, DictConfig):
            continue
        if "lr" in part:
            real_number(part.get("lr"), f"optim.{name}.lr", positive=True)
        betas = part.get("betas")
        if betas is not None:
            for i, beta in enumerate(betas):
                value = real_number(beta, f"optim.{name}.betas[{i}]", minimum=0)
                if value is not None and value >= 1:
                    raise UsageError(f"optim.{name}.betas[{i}]={beta}: must be in [0, 1)")


def check_sizes(cfg: DictConfig) -> None:
    """``data.size`` must be a side the generator accepts, as its class declares it
    (``multiple_for``, e.g. :meth:`~inpaintgan.models.unet.UNetGenerator.multiple_for`,
    called with the generator config's own arguments); the message names sizes that work.
    A generator class that declares nothing is checked when it is built."""
    generator = (cfg.get("model") or {}).get("generator")
    size = (cfg.get("data") or {}).get("size")
    if generator is None or size is None or generator.get("_target_") is None:
        return
    try:
        multiple_for = getattr(get_class(str(generator._target_)), "multiple_for", None)
    except Exception:  # a wrong _target_: building the model names it
        return
    if multiple_for is None:
        return
    params = inspect.signature(multiple_for).parameters
    args = {key: generator[key] for key in params if key in generator}
    try:
        multiple = int(multiple_for(**args))
    except ValueError as err:
        raise UserError(f"model.generator: {err}") from err
    if int(size) % multiple:
        given = ", ".join(f"model.generator.{k}={v}" for k, v in args.items() if v is not None)
        sizes = [multiple * 2**i for i in range(10) if multiple * 2**i >= 32][:3]
        raise UserError(
            f"data.size={size} does not fit the generator ({given or 'its defaults'}): "
            f"data.size must be a multiple of {multiple}, e.g. {', '.join(map(str, sizes))}"
        )


def check_config(cfg: DictConfig) -> None:
    """Refuse bad values before anything heavy is built (one-line UserError each, naming the
    key, the value and what is allowed).

    The model is a trainable variant; loss weights finite and >= 0; data sizes and batch
    sizes positive integers, ``data.num_workers`` >= 0; ``max_batches`` a positive integer;
    learning rates > 0; trainer epochs, precision and accelerator valid (and present on this
    machine); ``data.size`` a size the generator accepts (:func:`check_sizes`).
    """
    check_model(cfg)
    for key, value in (cfg.get("loss") or {}).items():
        if not str(key).endswith("_weight") or value is None:
            continue
        number = _number(value)
        if number is None or not math.isfinite(number) or number < 0:
            raise UserError(f"loss.{key}={value}: a loss weight must be a finite number >= 0")
    data = cfg.get("data") or {}
    for key in ("size", "batch_size", "eval_batch_size", "load_size"):
        value = data.get(key)
        if value is None:
            continue
        number = _number(value)
        if number is None or number != int(number) or number <= 0:
            raise UserError(f"data.{key}={value}: must be a positive whole number")
    whole_number(data.get("num_workers", 0), "data.num_workers", minimum=0)
    if cfg.get("max_batches") is not None:
        value = _number(cfg.max_batches)
        if value is None or not math.isfinite(value) or value != int(value) or value <= 0:
            raise UserError(f"max_batches={cfg.max_batches}: must be a positive whole number")
    bad_batch_limit(cfg, warn=False)  # max_bad_batches (or the deprecated max_bad_steps)
    whole_number(cfg.get("seed", 0), "seed", minimum=0)
    check_optim(cfg)
    check_trainer(cfg)
    check_sizes(cfg)


# ------------------------------------------------------------------------------ resume
def resume_checkpoint(cfg: DictConfig) -> str | None:
    """The checkpoint to resume from: ``ckpt``, or the old name ``ckpt_path`` (a one-line
    deprecation warning); both given and different is a UsageError. The config is left
    naming it as ``ckpt`` only (what the run records)."""
    ckpt, old = cfg.get("ckpt"), cfg.get("ckpt_path")
    if old:
        log.warning("ckpt_path is deprecated: use ckpt=%s", old)
        if ckpt and str(ckpt) != str(old):
            raise UsageError(f"ckpt={ckpt} and ckpt_path={old} differ: give ckpt= only")
        with open_dict(cfg):
            cfg.ckpt, cfg.ckpt_path = old, None
        ckpt = old
    return str(ckpt) if ckpt else None


def _model_signature(config: dict[str, Any]) -> dict[str, Any]:
    """What must match to resume: the variant, its generator/discriminator config, data.size."""
    model = config.get("model") or {}
    return {
        "model.name": model.get("name"),
        "data.size": (config.get("data") or {}).get("size"),
        **{f"model.generator.{k}": v for k, v in (model.get("generator") or {}).items()},
        **{f"model.discriminator.{k}": v for k, v in (model.get("discriminator") or {}).items()},
    }


def check_resume(ckpt: str, cfg: DictConfig) -> dict[str, Any]:
    """Read ``ckpt`` safely and check it can resume ``cfg``, before anything is built.

    An exported generator file is refused (it holds no training state); a checkpoint of
    another variant, width or size is refused with a line naming the first mismatches.
    Returns its inpaintgan block.
    """
    checkpoint = read_checkpoint(ckpt)
    if "state_dict" not in checkpoint or "pytorch-lightning_version" not in checkpoint:
        what = "an exported generator" if "generator" in checkpoint else "not a training checkpoint"
        raise UserError(
            f"ckpt={ckpt} is {what} (weights only, no optimiser or loop state): "
            "resume needs a training checkpoint such as checkpoints/last.ckpt; use this "
            "file with inpaintgan.predict or inpaintgan.evaluate ckpt=..."
        )
    meta = checkpoint[CHECKPOINT_KEY]
    stored = _model_signature(meta.get("config") or {})
    wanted = _model_signature(OmegaConf.to_container(cfg, resolve=True))
    # Keys only one side has (options added since the checkpoint was written) are not compared.
    differ = [k for k in wanted if k in stored and stored[k] != wanted[k]]
    if differ:

        def short(value: Any) -> str:
            text = repr(value)
            return text if len(text) <= 40 else text[:37] + "..."

        shown = "; ".join(
            f"{k}: checkpoint {short(stored[k])}, config {short(wanted[k])}" for k in differ[:3]
        )
        more = f" (+{len(differ) - 3} more)" if len(differ) > 3 else ""
        raise UserError(
            f"ckpt={ckpt} was trained with another model: {shown}{more}; resume "
            "with the run's own overrides (its .hydra/overrides.yaml)"
        )
    return meta


def read_resume_metadata(ckpt: str | None, cfg: DictConfig | None = None) -> dict[str, Any]:
    """The inpaintgan block of the checkpoint to resume from (validated against ``cfg``
    when given, before anything is built); {} without a checkpoint."""
    if not ckpt:
        return {}
    if cfg is not None:
        return check_resume(ckpt, cfg)
    return read_checkpoint(ckpt)[CHECKPOINT_KEY]
