"""LPIPS and FID of inpainted images, with their backbone weights found (never faked).

Both come from torchmetrics: LPIPS is its AlexNet LPIPS (the linear layers ship with
torchmetrics; the AlexNet backbone is torchvision's ImageNet file), FID uses its
``NoTrainInceptionV3`` (torch-fidelity's TF-ported Inception v3, 2048-d pool features) and
its Fréchet distance. Images are ``[B, 3, H, W]`` in ``[0, 1]`` at the data's size; LPIPS
sees them as they are, the Inception resizes them to 299² itself.

The backbone weights are found in this order (:func:`find_weights`): an explicit path
(evaluate's ``weights.lpips=`` / ``weights.fid=``), the torch hub cache
(``$TORCH_HOME/hub/checkpoints/<file>``, where torchvision / torch-fidelity download them),
a download into that cache when ``download`` is allowed. Without any of them the metric is
refused with one :class:`~inpaintgan.errors.UsageError` line naming the file, its URL and
where to put it: a score from random weights would be a number from nothing.

Random backbones exist only for tests of the plumbing: they are built from a weights file
the test writes itself (random initialisation), which the tests say.
"""

from __future__ import annotations

import importlib.util
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from inpaintgan.errors import UsageError

__all__ = [
    "FID_UNBIASED_IMAGES",
    "FID_WEIGHTS",
    "LPIPS_WEIGHTS",
    "PERCEPTUAL_METRICS",
    "FrechetInceptionDistance",
    "InceptionFeatures",
    "LPIPS",
    "WeightsFile",
    "find_weights",
    "hub_file",
]


@dataclass(frozen=True)
class WeightsFile:
    """A backbone's weights: the file name, where it is published, and whose file it is."""

    metric: str
    name: str
    url: str
    what: str

    def refusal(self, reason: str) -> str:
        """The one line refusing the metric: what is missing, where to fetch and put it."""
        return (
            f"{self.metric} needs {self.what} {self.name} ({reason}): fetch {self.url} and put "
            f"it at {hub_file(self.name)}, or give weights.{self.metric}=/path/to/{self.name}"
        )


LPIPS_WEIGHTS = WeightsFile(
    "lpips",
    "alexnet-owt-7be5be79.pth",
    "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "torchvision's ImageNet AlexNet",
)
FID_WEIGHTS = WeightsFile(
    "fid",
    "weights-inception-2015-12-05-6726825d.pth",
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth",
    "torch-fidelity's Inception v3 (TF port)",
)
PERCEPTUAL_METRICS = {"lpips": LPIPS_WEIGHTS, "fid": FID_WEIGHTS}
FID_UNBIASED_IMAGES = 10_000
"""Below this many images FID is biased upwards (it shrinks with the image count; Chong &
Forsyth 2020): evaluate's summary and the report's tables say so."""


def hub_file(name: str) -> Path:
    """Where torch hub caches a downloaded weights file (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def find_weights(metric: str, path: str | Path | None = None, download: bool = False) -> Path:
    """The weights file of ``metric`` (``lpips`` | ``fid``): ``path``, else the torch hub
    cache, else (with ``download``) downloaded into the cache; otherwise one UsageError line
    naming the file, its URL and where to put it."""
    weights = PERCEPTUAL_METRICS[metric]
    if metric == "fid" and importlib.util.find_spec("torch_fidelity") is None:
        raise UsageError(
            "fid needs the torch-fidelity package (its Inception v3): pip install torch-fidelity"
        )
    if path is not None:
        given = Path(path).expanduser()
        if not given.is_file():
            raise UsageError(weights.refusal(f"weights.{metric}={given}: no such file"))
        return given
    cached = hub_file(weights.name)
    if cached.is_file():
        return cached
    if not download:
        raise UsageError(weights.refusal("not in the torch hub cache; downloads are off"))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(weights.url, str(cached), progress=False)
    except (OSError, urllib.error.URLError, RuntimeError) as err:
        reason = getattr(err, "reason", None) or err
        raise UsageError(weights.refusal(f"download failed: {reason}")) from None
    return cached


def _alexnet_features(path: Path) -> dict[str, Tensor]:
    """The ``features.*`` tensors of a torchvision AlexNet state dict file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user mistake
        raise UsageError(f"{path}: not a readable AlexNet weights file ({err})") from None
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    if not features:
        raise UsageError(f"{path}: not torchvision's AlexNet state dict (no features.* keys)")
    return features


class LPIPS(nn.Module):
    """Per-image LPIPS (AlexNet, version 0.1, as torchmetrics' ``net_type="alex"``), ``[B]``.

    ``weights`` is torchvision's AlexNet file (:data:`LPIPS_WEIGHTS`); its convolutions are
    loaded into torchmetrics' LPIPS network, whose linear layers ship with torchmetrics.
    Inputs in ``[0, 1]`` (clamped); 0 for identical images.
    """

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        from torchmetrics.functional.image.lpips import _LPIPS

        # pnet_rand: no download of the backbone; its weights are loaded from `weights` below
        self.net = _LPIPS(pretrained=True, net="alex", pnet_rand=True).eval()
        slots: dict[int, str] = {}
        for number in range(1, 6):
            for name in getattr(self.net.net, f"slice{number}")._modules:
                slots[int(name)] = f"slice{number}.{name}"
        state: dict[str, Tensor] = {}
        for key, value in _alexnet_features(Path(weights)).items():
            _, index, param = key.split(".")
            if int(index) in slots:
                state[f"{slots[int(index)]}.{param}"] = value
        try:
            self.net.net.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise UsageError(f"{weights}: AlexNet weights do not fit ({err})") from None
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> LPIPS:  # never leaves evaluation mode (dropout)
        return super().train(False)

    @torch.no_grad()
    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        pred, target = pred.float().clamp(0, 1), target.float().clamp(0, 1)
        return self.net(pred, target, normalize=True).flatten()


class InceptionFeatures(nn.Module):
    """torch-fidelity's Inception v3 pool features (2048-d) through torchmetrics'
    ``NoTrainInceptionV3``, read from ``weights`` (:data:`FID_WEIGHTS`), never downloaded."""

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.net = NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=["2048"],
            feature_extractor_weights_path=str(weights),
        )

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        """``[B, 3, H, W]`` in [0, 1] → ``[B, 2048]`` float64 (8-bit input, as torchmetrics'
        FID with ``normalize=True``)."""
        return self.net((images.float().clamp(0, 1) * 255).byte()).double().flatten(1)


class FrechetInceptionDistance:
    """FID between the real images and one or more sets of outputs, sharing one Inception.

    ``update_real(images)`` once per batch; ``update(key, images)`` per output set (e.g. one
    per hole-ratio bucket); ``compute(key)`` is torchmetrics' Fréchet distance of the two
    Gaussians; ``count(key)`` the number of images it saw (FID is biased upwards on few
    images: report it beside the value).
    """

    REAL = "__real__"

    def __init__(self, features: InceptionFeatures) -> None:
        self.features = features
        self._stats: dict[str, tuple[Tensor, Tensor, int]] = {}

    def _add(self, key: str, images: Tensor) -> None:
        feats = self.features(images).cpu()
        total, outer, n = self._stats.get(key, (0, 0, 0))
        self._stats[key] = (total + feats.sum(0), outer + feats.T @ feats, n + len(feats))

    def update_real(self, images: Tensor) -> None:
        self._add(self.REAL, images)

    def update(self, key: str, images: Tensor) -> None:
        self._add(key, images)

    def count(self, key: str) -> int:
        return self._stats.get(key, (0, 0, 0))[2]

    def _gaussian(self, key: str) -> tuple[Tensor, Tensor]:
        total, outer, n = self._stats[key]
        mean = total / n
        cov = (outer - n * torch.outer(mean, mean)) / (n - 1)
        return mean, cov

    def compute(self, key: str) -> float:
        """FID of set ``key`` against the real images (each needs at least 2 images)."""
        from torchmetrics.image.fid import _compute_fid

        for k in (self.REAL, key):
            if self.count(k) < 2:
                raise ValueError(f"FID needs at least 2 images per set, got {self.count(k)}")
        mu1, sigma1 = self._gaussian(self.REAL)
        mu2, sigma2 = self._gaussian(key)
        return float(_compute_fid(mu1, sigma1, mu2, sigma2))
