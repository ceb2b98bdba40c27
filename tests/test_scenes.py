"""Split by scene (issue 23): near-duplicate shots of one series never straddle a split."""

from __future__ import annotations

from pathlib import Path

import pytest

from inpaintgan.data.datasets import FolderSource, split_by_fraction
from inpaintgan.data.scenes import scene_key
from inpaintgan.errors import DataError


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("tiktok_pexels-7303992.jpg", "tiktok_pexels-7303995.jpg"),
        ("tiktok_pexels-7303773.jpg", "tiktok_pexels-cup-of-couple-7303788.jpg"),
        ("opencv_aero1.jpg", "opencv_aero3.jpg"),
        ("opencv_scenetext01.jpg", "opencv_scenetext06.jpg"),
    ],
)
def test_shots_of_one_series_share_a_key(a, b):
    assert scene_key(a) == scene_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("tiktok_pexels-7303992.jpg", "tiktok_pexels-7602925.jpg"),
        ("opencv_aero1.jpg", "opencv_apple.jpg"),
        ("mate_Aqua.jpg", "mate_Dune.jpg"),
    ],
)
def test_different_scenes_keep_different_keys(a, b):
    assert scene_key(a) != scene_key(b)


def _names(count: int) -> list[Path]:
    series = [Path(f"pexels-73039{i:02d}.jpg") for i in range(6)]  # one series of six
    singles = [Path(f"photo_{chr(97 + i)}.jpg") for i in range(count - len(series))]
    return sorted(series + singles)


@pytest.mark.parametrize("seed", range(8))
def test_split_by_scene_keeps_every_series_on_one_side(seed):
    paths = _names(40)
    by_file = split_by_fraction(paths, 0.1, 0.2, seed, "file")
    by_scene = split_by_fraction(paths, 0.1, 0.2, seed, "scene")
    assert sorted(sum(by_scene.values(), [])) == paths  # a partition of every file
    sides = {name: {scene_key(p) for p in files} for name, files in by_scene.items()}
    assert not (sides["train"] & sides["val"] or sides["train"] & sides["test"])
    assert not sides["val"] & sides["test"]
    assert len(by_scene["val"]) <= 4 and len(by_scene["test"]) <= 8  # shares not exceeded
    assert by_scene == split_by_fraction(paths, 0.1, 0.2, seed, "scene")  # seeded
    assert len(by_file["val"]) == 4 and len(by_file["test"]) == 8  # the file split as before


def test_a_file_split_can_straddle_what_a_scene_split_keeps_together():
    """The reason for the option: some seed puts one series on both sides by file."""
    paths = _names(40)
    straddles = 0
    for seed in range(20):
        parts = split_by_fraction(paths, 0.1, 0.2, seed, "file")
        keys = {name: {scene_key(p) for p in files} for name, files in parts.items()}
        straddles += bool(keys["train"] & (keys["val"] | keys["test"]))
    assert straddles > 0


def test_folder_source_splits_by_scene_and_refuses_an_unknown_unit(tmp_path):
    from PIL import Image

    for path in _names(20):
        Image.new("RGB", (8, 8)).save(tmp_path / path)
    source = FolderSource(
        tmp_path, split="fraction", val_fraction=0.2, test_fraction=0.2, unit="scene"
    )
    train = {scene_key(p) for p in source.paths("train")}
    held_out = {scene_key(p) for p in source.paths("val") + source.paths("test")}
    assert train and held_out and not train & held_out
    with pytest.raises(ValueError, match="unit must be one of"):
        FolderSource(tmp_path, split="fraction", unit="photo")
    with pytest.raises(DataError, match="left no val images"):
        split_by_fraction([Path(f"pexels-7303{i:03d}.jpg") for i in range(5)], 0.2, 0.2, 0, "scene")
