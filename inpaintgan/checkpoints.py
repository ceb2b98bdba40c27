"""Read and write generator checkpoints without trusting the file.

Two guards: the pickle is read with ``torch.load(weights_only=True)`` (no code runs while
unpickling), and the network is rebuilt from the stored config only through an allow-list
(:func:`build_from_config`): the package's own generator classes and the argument names of
their signatures, nested configs (the U-Net's ``se_block``) checked the same way. Nothing
from a file is ever handed to Hydra's ``instantiate``: any other ``_target_``, argument or
Hydra key (``_args_``, ``_recursive_`` ...) is refused in one line naming the file, before
anything is called.
"""

from __future__ import annotations

import functools
import inspect
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from inpaintgan.errors import CheckpointError, UsageError
from inpaintgan.io import atomic_torch_save, check_outputs

CHECKPOINT_KEY = "inpaintgan"
FORMAT_VERSION = 1


def checkpoint_metadata(config: DictConfig | dict) -> dict[str, Any]:
    """The block stored under ``checkpoint["inpaintgan"]``: format and resolved config."""
    if isinstance(config, DictConfig):
        config = OmegaConf.to_container(config, resolve=True)
    return {"format": FORMAT_VERSION, "config": config}


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``) or raise a one-line CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({first})") from err
    except Exception as err:  # unpickling errors of untrusted content
        raise CheckpointError(
            f"{path}: refused to load (not a plain weights file: {type(err).__name__})"
        ) from err
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint:
        raise CheckpointError(f"{path}: not an inpaintgan checkpoint (no '{CHECKPOINT_KEY}' block)")
    return checkpoint


def generator_state_dict(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The generator's weights from a training checkpoint or an exported file."""
    if "generator" in checkpoint:
        return checkpoint["generator"]
    prefix = "generator."
    return {
        key[len(prefix) :]: value
        for key, value in checkpoint.get("state_dict", {}).items()
        if key.startswith(prefix)
    }


@dataclass(frozen=True)
class Allowed:
    """One class a config from a file may build: its dotted ``_target_``, the class, and the
    nested configs some of its arguments may hold (argument name → allowed classes; those
    are built as ``functools.partial`` when they say ``_partial_: true``)."""

    target: str
    cls: type
    nested: tuple[tuple[str, tuple[Allowed, ...]], ...] = ()

    def arguments(self) -> set[str]:
        """The keyword arguments of the class's signature (``self`` and ``*args`` excluded)."""
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        parameters = inspect.signature(self.cls.__init__).parameters.values()
        return {p.name for p in parameters if p.kind in kinds and p.name != "self"}


def allowed_generators() -> tuple[Allowed, ...]:
    """The generator classes a checkpoint or an export may name (U-Net with its SE block
    config, Context Encoder); their arguments are read from their signatures."""
    from inpaintgan.models.context_encoder import ContextEncoder
    from inpaintgan.models.se_block import ImprovedSEBlock
    from inpaintgan.models.unet import UNetGenerator

    se_block = Allowed("inpaintgan.models.se_block.ImprovedSEBlock", ImprovedSEBlock)
    unet = Allowed(
        "inpaintgan.models.unet.UNetGenerator", UNetGenerator, (("se_block", (se_block,)),)
    )
    return unet, Allowed("inpaintgan.models.context_encoder.ContextEncoder", ContextEncoder)


def allowed_classical() -> tuple[Allowed, ...]:
    """The classical inpainter a model config (``model=telea``) may name."""
    from inpaintgan.classical import ClassicalInpainter

    return (Allowed("inpaintgan.classical.ClassicalInpainter", ClassicalInpainter),)


_SCALARS = (bool, int, float, str, type(None))


def _plain_value(value: Any, where: str, key: str) -> Any:
    """A scalar or a list of scalars, or a CheckpointError (no config block, no interpolation)."""
    if isinstance(value, list | tuple):
        return [_plain_value(v, where, key) for v in value]
    if not isinstance(value, _SCALARS):
        raise CheckpointError(
            f"{where}: refused: {key} holds a {type(value).__name__}, not a plain value; "
            "nothing was run"
        )
    if isinstance(value, str) and "${" in value:
        raise CheckpointError(f"{where}: refused: {key}={value!r} is an interpolation")
    return value


def _container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else node


def check_config(
    node: Any, allowed: tuple[Allowed, ...], where: str, key: str, partial: bool = False
) -> Allowed:
    """Check one config from a file against ``allowed`` without calling anything; returns the
    entry it names. A CheckpointError (one line naming ``where`` and the key) for any other
    ``_target_``, an argument its class does not take, a Hydra key (``_args_``,
    ``_recursive_`` ...; ``_partial_: true`` only where ``partial``) or a value that is not
    plain (a config block outside the allowed places, an interpolation)."""
    node = _container(node)
    if not isinstance(node, Mapping):
        raise CheckpointError(f"{where}: refused: {key} is not a config block")
    target = node.get("_target_")
    entry = next((a for a in allowed if a.target == target), None)
    if entry is None:
        names = ", ".join(a.target for a in allowed)
        raise CheckpointError(
            f"{where}: refused: {key}._target_={target!r} is not one of the classes allowed "
            f"there ({names}); nothing was run"
        )
    arguments, nested = entry.arguments(), dict(entry.nested)
    for name, value in node.items():
        name = str(name)
        if name == "_target_" or (name == "_partial_" and partial and value is True):
            continue
        if name not in arguments:
            raise CheckpointError(
                f"{where}: refused: {key}.{name} is not an argument of {entry.cls.__name__} "
                f"(allowed: {', '.join(sorted(arguments))}); nothing was run"
            )
        if isinstance(value, Mapping):
            if name not in nested:
                raise CheckpointError(
                    f"{where}: refused: {key}.{name} holds a config block where "
                    f"{entry.cls.__name__} takes a plain value; nothing was run"
                )
            check_config(value, nested[name], where, f"{key}.{name}", partial=True)
        else:
            _plain_value(value, where, f"{key}.{name}")
    return entry


def build_from_config(
    node: Any, allowed: tuple[Allowed, ...], where: str, key: str, partial: bool = False
) -> Any:
    """Build what ``node`` describes once :func:`check_config` has accepted all of it, by
    calling the allowed class directly (never Hydra's ``instantiate``)."""
    node = _container(node)
    entry = check_config(node, allowed, where, key, partial)
    nested = dict(entry.nested)
    kwargs: dict[str, Any] = {}
    for name, value in node.items():
        if name in ("_target_", "_partial_"):
            continue
        if isinstance(value, Mapping):
            kwargs[name] = build_from_config(value, nested[name], where, f"{key}.{name}", True)
        else:
            kwargs[name] = _plain_value(value, where, f"{key}.{name}")
    if node.get("_partial_") is True:
        return functools.partial(entry.cls, **kwargs)
    return entry.cls(**kwargs)


def _generator_node(config: Any, where: str) -> Any:
    config = _container(config)
    model = config.get("model") if isinstance(config, Mapping) else None
    if model is not None and not isinstance(model, Mapping):
        raise CheckpointError(f"{where}: refused: model is not a config block")
    return None if model is None else model.get("generator")


def check_generator_config(config: Any, where: str | Path) -> None:
    """Check the ``model.generator`` of a run config read from a file (a checkpoint, an
    export's metadata) against :func:`allowed_generators`, calling nothing; a config
    without one passes (nothing would be built from it)."""
    node = _generator_node(config, str(where))
    if node is not None:
        check_config(node, allowed_generators(), str(where), "model.generator")


def build_generator(config: Any, where: str | Path) -> nn.Module:
    """The generator of the run config ``config``, through the allow-list; a refusal or a
    build that fails is one CheckpointError naming ``where``."""
    node = _generator_node(config, str(where))
    if node is None:
        raise CheckpointError(f"{where}: its config has no model.generator")
    check_config(node, allowed_generators(), str(where), "model.generator")
    try:
        return build_from_config(node, allowed_generators(), str(where), "model.generator")
    except (TypeError, ValueError) as err:  # the allowed class refused its values
        if isinstance(err, CheckpointError):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{where}: cannot rebuild its generator ({first})") from err


def build_classical(config: Any, where: str) -> nn.Module:
    """The classical inpainter of a model config's ``inpainter`` block through
    :func:`allowed_classical`; a refusal is a one-line UsageError naming ``where``."""
    try:
        return build_from_config(config, allowed_classical(), where, "inpainter")
    except CheckpointError as err:
        raise UsageError(str(err)) from None
    except (TypeError, ValueError) as err:
        raise UsageError(f"{where}: cannot build its inpainter ({err})") from err


def load_generator(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, DictConfig]:
    """Rebuild the generator stored in ``path`` (training .ckpt or exported .pt), in eval mode.

    Returns the generator and the run's resolved config (``config.model``, ``config.data``...).
    """
    checkpoint = read_checkpoint(path)
    block = checkpoint[CHECKPOINT_KEY]
    raw = block.get("config") if isinstance(block, Mapping) else None
    if not isinstance(raw, Mapping):
        raise CheckpointError(f"{path}: its '{CHECKPOINT_KEY}' block holds no config")
    generator = build_generator(raw, path)  # through the allow-list, never instantiate
    try:
        config = OmegaConf.create(dict(raw))
    except Exception as err:
        raise CheckpointError(f"{path}: its stored config is unreadable ({err})") from err
    state = generator_state_dict(checkpoint)
    if not state:
        raise CheckpointError(f"{path}: holds no generator weights")
    try:
        generator.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{path}: generator weights do not fit its config ({first})") from err
    return generator.to(map_location).eval(), config


def refuse_same_file(checkpoint_path: str | Path, out_path: str | Path) -> None:
    """A CheckpointError when ``out_path`` is the checkpoint itself (an export would replace
    the training checkpoint)."""
    out_path = Path(out_path)
    if out_path.resolve() == Path(checkpoint_path).resolve() or (
        out_path.exists()
        and Path(checkpoint_path).exists()
        and os.path.samefile(out_path, checkpoint_path)
    ):
        raise CheckpointError(
            f"out={out_path} is the checkpoint itself: exporting would replace it with the "
            "exported file; give another out"
        )


def export_generator(
    checkpoint_path: str | Path, out_path: str | Path, overwrite: bool = False
) -> Path:
    """Write only the generator weights and the run config: a small file to share.

    The writer rule (:func:`inpaintgan.io.check_outputs`): never the checkpoint itself, and
    an existing ``out_path`` (another run's ``last.ckpt``...) only with ``overwrite``."""
    out_path = Path(out_path)
    refuse_same_file(checkpoint_path, out_path)
    check_outputs([(str(checkpoint_path), out_path)], [checkpoint_path], overwrite)
    checkpoint = read_checkpoint(checkpoint_path)
    state = generator_state_dict(checkpoint)
    if not state:
        raise CheckpointError(f"{checkpoint_path}: holds no generator weights")
    atomic_torch_save({CHECKPOINT_KEY: checkpoint[CHECKPOINT_KEY], "generator": state}, out_path)
    return out_path
