"""LPIPS and FID (inpaintgan.perceptual): their plumbing, and their refusal without weights.

No real backbone weights exist on a test machine (nothing is downloaded here). The value
tests therefore build the networks from weights files the tests write themselves with a
RANDOMLY INITIALISED AlexNet / Inception: they check the plumbing (the file is really loaded,
LPIPS of an image with itself is 0 and grows with the perturbation, FID of a set against
itself is ~0 and equals torchmetrics' own FID on the same file), never the published numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from inpaintgan.errors import UsageError
from inpaintgan.perceptual import (
    FID_WEIGHTS,
    LPIPS,
    LPIPS_WEIGHTS,
    FrechetInceptionDistance,
    InceptionFeatures,
    find_weights,
    hub_file,
)


@pytest.fixture(autouse=True)
def _empty_hub(empty_torch_home: Path) -> None:
    """No cached weights, and a download never leaves the machine (conftest's fixtures:
    empty_torch_home, and the session's random_alexnet / random_inception files)."""
    torch.set_num_threads(1)


def _images(n: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, size // 8, size // 8, generator=generator)
    return torch.nn.functional.interpolate(base, size=size, mode="bilinear")  # smooth photos


def test_lpips_of_an_image_with_itself_is_zero_and_grows_with_noise(random_alexnet: Path):
    lpips = LPIPS(random_alexnet)  # random backbone: plumbing only
    image = _images(3)
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(1))
    assert lpips(image, image).tolist() == pytest.approx([0.0] * 3, abs=1e-6)
    small = lpips((image + 0.02 * noise).clamp(0, 1), image)
    large = lpips((image + 0.2 * noise).clamp(0, 1), image)
    assert small.shape == (3,) and (small > 0).all() and (large > 2 * small).all()


def test_lpips_loads_the_file_it_is_given(random_alexnet: Path, tmp_path: Path) -> None:
    lpips = LPIPS(random_alexnet)
    stored = torch.load(random_alexnet, weights_only=True)
    assert torch.equal(lpips.net.net.slice1[0].weight, stored["features.0.weight"])
    assert torch.equal(lpips.net.net.slice5._modules["10"].weight, stored["features.10.weight"])
    wrong = tmp_path / "not-alexnet.pth"
    torch.save({"fc.weight": torch.zeros(1)}, wrong)
    with pytest.raises(UsageError, match="no features"):
        LPIPS(wrong)


def test_fid_of_a_set_with_itself_is_about_zero_and_matches_torchmetrics(
    random_inception: Path,
) -> None:
    from torchmetrics.image.fid import FrechetInceptionDistance as TorchmetricsFID

    features = InceptionFeatures(random_inception)  # random Inception: plumbing only
    real = _images(3, seed=0)
    other = real + 0.3 * torch.randn(real.shape, generator=torch.Generator().manual_seed(2))
    other = other.clamp(0, 1)
    fid = FrechetInceptionDistance(features)
    fid.update_real(real)
    fid.update("same", real)
    fid.update("other", other)
    scale = float(fid._gaussian(fid.REAL)[1].trace())  # the size of the features' spread
    assert abs(fid.compute("same")) < 1e-3 * scale
    other_fid = fid.compute("other")  # (a 2048x2048 matrix square root: computed once)
    assert other_fid > 0.05 * scale
    assert fid.count("same") == 3

    reference = TorchmetricsFID(
        normalize=True, feature_extractor_weights_path=str(random_inception)
    )
    reference.update(real, real=True)
    reference.update(other, real=False)
    assert other_fid == pytest.approx(float(reference.compute()), rel=1e-3)


def test_fid_needs_two_images_per_set(random_inception: Path) -> None:
    fid = FrechetInceptionDistance(InceptionFeatures(random_inception))
    fid.update_real(_images(2))
    fid.update("one", _images(1))
    with pytest.raises(ValueError, match="at least 2"):
        fid.compute("one")


@pytest.mark.parametrize("weights", [LPIPS_WEIGHTS, FID_WEIGHTS], ids=["lpips", "fid"])
def test_without_weights_the_metric_is_refused_in_one_line(weights, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as refused:
        find_weights(weights.metric, None, download=False)
    line = str(refused.value)
    assert "\n" not in line and weights.name in line and weights.url in line
    assert str(hub_file(weights.name)) in line and f"weights.{weights.metric}=" in line

    with pytest.raises(UsageError, match="no such file") as refused:
        find_weights(weights.metric, tmp_path / "missing.pth")
    assert "\n" not in str(refused.value)


def test_a_failed_download_is_one_line_and_leaves_no_file(monkeypatch: pytest.MonkeyPatch):
    def offline(url: str, dst: str, progress: bool = True) -> None:
        raise OSError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(UsageError, match="download failed: Name or service") as refused:
        find_weights("lpips", None, download=True)
    assert "\n" not in str(refused.value) and not hub_file(LPIPS_WEIGHTS.name).exists()


def test_cached_or_given_weights_are_found(random_alexnet: Path) -> None:
    assert find_weights("lpips", random_alexnet) == random_alexnet
    cached = hub_file(LPIPS_WEIGHTS.name)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(random_alexnet.read_bytes())
    assert find_weights("lpips") == cached


def test_fid_without_torch_fidelity_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch_fidelity" else real_find_spec(name, *a),
    )
    with pytest.raises(UsageError, match="pip install torch-fidelity"):
        find_weights("fid")
