"""Frozen VGG16 feature extractor for the style loss (eq. 8).

Weights (``weights=``):

* ``imagenet``: torchvision's ``VGG16_Weights.IMAGENET1K_V1`` file ``vgg16-397923af.pth``,
  read from ``weights_path`` when given, else from the torch hub cache
  (``$TORCH_HOME/hub/checkpoints/``, by default ``~/.cache/torch/hub/checkpoints/``). If it
  is not there the constructor raises at once with one line naming the file and the folder
  (no download attempt, so offline runs never hang) unless ``download=True``.
* ``random``: torchvision's default init; for offline runs and tests (not perceptual).
* ``auto``: ``imagenet`` when the file is available locally, else ``random`` with one
  warning line naming the file to place and where.

The network is frozen and kept out of ``parameters()`` and ``state_dict()``: its weights
are non-persistent buffers, so they follow ``.to(device)`` but never reach an optimiser or a
checkpoint. Inputs are images in ``[0, 1]``; ImageNet normalisation happens inside.

Precision: the convolutions follow the caller's autocast (bf16 under ``bf16-mixed``: VGG16
is about half of the paper model's FLOPs and most of the activations its backward keeps);
the style loss casts the returned features to float32 for the Gram matrices
(:func:`inpaintgan.losses.gram_matrix`).
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn
from torchvision.models import VGG16_Weights

__all__ = ["DEFAULT_LAYERS", "VGG16_LAYERS", "VGG16Features", "imagenet_weights_file"]

log = logging.getLogger(__name__)

_BLOCKS = (2, 2, 3, 3, 3)  # convs per VGG16 block
_WIDTHS = (64, 128, 256, 512, 512)


def _layer_names() -> dict[str, int]:
    names: dict[str, int] = {}
    index = 0
    for block, convs in enumerate(_BLOCKS, start=1):
        for conv in range(1, convs + 1):
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
        names[f"pool{block}"] = index
        index += 1
    return names


#: Layer name → index in ``torchvision.models.vgg16().features``.
VGG16_LAYERS: dict[str, int] = _layer_names()
#: The paper's style layers (the common choice for Gram losses).
DEFAULT_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_weights_file() -> Path:
    """Where torchvision caches the VGG16 ImageNet weights (the file ``imagenet`` reads)."""
    name = VGG16_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / name


class VGG16Features(nn.Module):
    """Frozen VGG16 ``features`` up to the deepest requested layer.

    ``forward(image [B, 3, H, W] in [0, 1]) -> list`` of ``[B, C_j, H_j, W_j]``, one per
    entry of ``layers`` in the given order.

    Args:
        layers: VGG16 layer names (``relu1_2``, ``pool3``, ``conv4_1``…).
        weights: ``imagenet``, ``random`` or ``auto`` (see the module docstring).
        weights_path: an explicit ``vgg16-397923af.pth`` (or a state dict of ``features``).
        download: allow torchvision to download the file when it is missing (needs network).
    """

    def __init__(
        self,
        layers: Sequence[str] = DEFAULT_LAYERS,
        weights: Literal["imagenet", "random", "auto"] = "auto",
        weights_path: str | None = None,
        download: bool = False,
    ):
        super().__init__()
        unknown = [name for name in layers if name not in VGG16_LAYERS]
        if not layers or unknown:
            raise ValueError(f"unknown VGG16 layers {unknown}; choose from {list(VGG16_LAYERS)}")
        if weights not in ("imagenet", "random", "auto"):
            raise ValueError(f"weights must be imagenet, random or auto, got {weights!r}")
        self.layers = list(layers)
        self.indices = [VGG16_LAYERS[name] for name in layers]
        state = self._resolve(weights, weights_path, download)
        #: What was loaded: ``imagenet`` or ``random``.
        self.source = "random" if state is None else "imagenet"

        features = _vgg16_features(max(self.indices) + 1)
        if state is not None:
            state = {k.removeprefix("features."): v for k, v in state.items()}
            wanted = features.state_dict()
            missing = [k for k in wanted if k not in state]
            if missing:
                raise ValueError(f"VGG16 weights lack {missing[:3]}…: not a VGG16 state dict")
            features.load_state_dict({k: state[k] for k in wanted})
        self.features = _freeze_as_buffers(features)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), False)

    @staticmethod
    def _resolve(
        weights: str, weights_path: str | None, download: bool
    ) -> dict[str, Tensor] | None:
        """The ImageNet state dict to load, or None for random weights."""
        if weights == "random":
            return None
        path = Path(weights_path).expanduser() if weights_path else imagenet_weights_file()
        if path.is_file():
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError:  # objects other than tensors: never loaded unsafely
                raise ValueError(
                    f"{path}: not a VGG16 weights file (it holds objects other than tensors, "
                    f"which are never loaded); use torchvision's {VGG16_Weights.IMAGENET1K_V1.url}"
                ) from None
            except (RuntimeError, OSError, EOFError) as err:
                raise ValueError(
                    f"{path}: not a readable VGG16 weights file ({type(err).__name__}); use "
                    f"torchvision's {VGG16_Weights.IMAGENET1K_V1.url}"
                ) from None
        hint = (
            f"VGG16 ImageNet weights not found: place {path.name} "
            f"(from {VGG16_Weights.IMAGENET1K_V1.url}) at {path}"
        )
        if weights == "auto":
            log.warning("%s; using random VGG16 weights, so the style loss is not perceptual", hint)
            return None
        if download and not weights_path:
            return torch.hub.load_state_dict_from_url(
                VGG16_Weights.IMAGENET1K_V1.url, map_location="cpu", progress=False
            )
        raise FileNotFoundError(
            f"{hint}, or set style_features.weights_path, or use weights=random"
        )

    def forward(self, image: Tensor) -> list[Tensor]:
        """image ``[B, 3, H, W]`` in [0, 1] → features at ``layers`` (same order)."""
        x = (image - self.mean) / self.std
        wanted = set(self.indices)
        taps: dict[int, Tensor] = {}
        for i, module in enumerate(self.features):
            x = module(x)
            if i in wanted:
                taps[i] = x
        return [taps[i] for i in self.indices]


def _vgg16_features(length: int) -> nn.Sequential:
    """The first ``length`` layers of VGG16's ``features``, indexed as torchvision's.

    Built here rather than by ``torchvision.models.vgg16()`` to skip its 120M-parameter
    classifier; ReLUs are not in-place so tapped activations stay intact.
    """
    layers: list[nn.Module] = []
    in_ch = 3
    for convs, width in zip(_BLOCKS, _WIDTHS, strict=True):
        for _ in range(convs):
            layers += [nn.Conv2d(in_ch, width, 3, padding=1), nn.ReLU()]
            in_ch = width
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers[:length])


def _freeze_as_buffers(network: nn.Module) -> nn.Module:
    """Turn every parameter into a non-persistent buffer: frozen, moved by ``.to``, unsaved."""
    for module in network.modules():
        for name, param in list(module.named_parameters(recurse=False)):
            delattr(module, name)
            module.register_buffer(name, param.detach().requires_grad_(False), persistent=False)
    return network.eval()
