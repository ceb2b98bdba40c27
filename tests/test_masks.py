"""masks.py: shapes, values, hole ratios, bounds and determinism of every mask kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from inpaintgan.data.images import DataError, ImageLoadError
from inpaintgan.data.masks import CenterMask, FolderMask, IrregularMask, MixedMask, RectMask

CONF = Path(__file__).resolve().parents[1] / "conf" / "mask"


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _check_binary(mask: np.ndarray, height: int, width: int) -> None:
    assert mask.shape == (height, width) and mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}


def test_center_is_the_central_half_square():
    mask = CenterMask()(256, 256, _rng())
    _check_binary(mask, 256, 256)
    assert mask.sum() == 128 * 128
    assert mask[64:192, 64:192].all()
    small = CenterMask()(128, 128, _rng())
    assert small.sum() == 64 * 64 and small[32:96, 32:96].all()


def test_center_overlap_shrinks_each_side():
    mask = CenterMask(overlap=4)(256, 256, _rng())
    assert mask.sum() == 120 * 120 and mask[68:188, 68:188].all()


def test_center_non_square():
    mask = CenterMask()(100, 200, _rng())
    assert mask.sum() == 50 * 100 and mask[25:75, 50:150].all()


def test_rect_counts_and_sizes():
    gen = RectMask(count=(1, 3), size=(0.1, 0.5))
    ratios = []
    for seed in range(50):
        mask = gen(64, 96, _rng(seed))
        _check_binary(mask, 64, 96)
        ratios.append(mask.mean())
    assert min(ratios) > 0 and max(ratios) <= 3 * 0.25
    one = RectMask(count=1, size=0.25)(128, 128, _rng())
    assert one.sum() == 32 * 32


@pytest.mark.parametrize("preset", ["thin", "medium", "thick"])
def test_irregular_presets_bounded_and_never_empty(preset):
    gen = IrregularMask(preset, max_ratio=0.4)
    ratios = []
    for seed in range(40):
        mask = gen(128, 128, _rng(seed))
        _check_binary(mask, 128, 128)
        ratios.append(mask.mean())
    assert 0 < min(ratios) and max(ratios) <= 0.4


def test_irregular_presets_grow_thin_to_thick():
    def mean_ratio(preset: str) -> float:
        gen = IrregularMask(preset, max_ratio=1.0)
        return float(np.mean([gen(128, 128, _rng(s)).mean() for s in range(40)]))

    thin, medium, thick = (mean_ratio(p) for p in ("thin", "medium", "thick"))
    assert 0.03 < thin < medium < thick < 0.5


def test_irregular_tight_bound_and_explicit_params():
    gen = IrregularMask(None, strokes=(3, 3), vertices=(5, 5), length=(30, 30), width=(40, 40))
    tight = IrregularMask(preset="thick", max_ratio=0.02)
    for seed in range(10):
        assert gen(256, 256, _rng(seed)).any()
        mask = tight(256, 256, _rng(seed))
        assert 0 < mask.mean() <= 0.02
    with pytest.raises(ValueError, match="preset"):
        IrregularMask("huge")
    with pytest.raises(ValueError, match="needs a preset"):
        IrregularMask(None, strokes=(1, 2))


@pytest.mark.parametrize(
    "gen", [CenterMask(), RectMask(), IrregularMask("medium")], ids=["center", "rect", "irr"]
)
def test_same_rng_same_mask(gen):
    np.testing.assert_array_equal(gen(64, 64, _rng(3)), gen(64, 64, _rng(3)))


def _mask_folder(root: Path) -> Path:
    root.mkdir()
    left = np.zeros((40, 60), np.uint8)
    left[:, :30] = 255
    Image.fromarray(left).save(root / "left.png")
    top = np.zeros((10, 10), np.uint8)
    top[:5] = 255
    Image.fromarray(top).convert("RGB").save(root / "sub_top.png")
    return root


def test_folder_masks_resized_binarised_and_paired_at_random(tmp_path):
    gen = FolderMask(_mask_folder(tmp_path / "masks"))
    seen = set()
    for seed in range(20):
        mask = gen(32, 48, _rng(seed))
        _check_binary(mask, 32, 48)
        assert mask.mean() == 0.5
        seen.add("left" if mask[:, :24].all() else "top")
    assert seen == {"left", "top"}
    inverted = FolderMask(tmp_path / "masks", invert=True)(32, 48, _rng(0))
    np.testing.assert_array_equal(inverted, 1 - gen(32, 48, _rng(0)))


def test_folder_masks_bad_input(tmp_path):
    with pytest.raises(DataError, match="not a directory") as err:
        FolderMask(tmp_path / "missing")
    assert "\n" not in str(err.value)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no masks here")
    with pytest.raises(DataError, match="no mask images"):
        FolderMask(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ImageLoadError, match="bad.png"):
        FolderMask(tmp_path / "broken")(16, 16, _rng())


def test_mixed_follows_weights():
    gen = MixedMask([CenterMask(), RectMask(count=1, size=0.1)], [0.75, 0.25])
    kinds = [gen(64, 64, _rng(s)).sum() == 32 * 32 for s in range(400)]
    assert 0.65 < np.mean(kinds) < 0.85
    only = MixedMask({"a": CenterMask(), "b": RectMask()}, {"a": 0.0, "b": 1.0})
    assert all(only(64, 64, _rng(s)).sum() != 32 * 32 for s in range(20))
    with pytest.raises(ValueError):
        MixedMask([CenterMask()], [1.0, 2.0])


@pytest.mark.parametrize("name", ["center", "rect", "irregular", "mixed", "folder"])
def test_configs_instantiate(name, tmp_path):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    if name == "folder":
        cfg.root = str(_mask_folder(tmp_path / "masks"))
    gen = instantiate(cfg)
    for seed in range(5):
        _check_binary(gen(64, 64, _rng(seed)), 64, 64)
