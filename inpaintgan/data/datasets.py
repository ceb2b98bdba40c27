"""Where the images are (sources, one per data-set layout) and how one sample is made.

A *source* knows a layout on disk and answers ``paths(split)`` for split in
``train | val | test | all``; it never decodes an image. :class:`InpaintingDataset` turns
a list of paths into ``{"image", "mask", "name"}`` samples at a fixed size.
Layouts accepted are described in docs/data.md.
"""

from __future__ import annotations

import csv
import logging
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch.utils.data import Dataset
from torchvision.transforms import InterpolationMode

from inpaintgan.data.images import IMAGE_EXTENSIONS, load_rgb
from inpaintgan.data.scenes import scene_key
from inpaintgan.errors import DataError, ImageLoadError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test", "all")
SPREAD_CHECKS = 16  # listed files checked across a split list (see _check_listed)
EXTENSIONS_TEXT = "/".join(e[1:] for e in IMAGE_EXTENSIONS)

MaskGenerator = Callable[[int, int, np.random.Generator], np.ndarray]


class PathList(Sequence[Path]):
    """Many image paths under one folder, kept as one numpy bytes array.

    A Places365 training list names 1.8 M (Standard) or 8 M (Challenge) files: as ``Path``
    objects (~1 KB each) that is gigabytes per process before training starts, on every
    DDP rank. Here each entry costs its relative path's bytes. Indexing gives a ``Path``;
    :class:`InpaintingDataset` takes the array as it is (no ``Path`` per entry).

    Args:
        folder: the folder the entries are relative to.
        relative: bytes array (numpy ``S`` dtype) of ``/``-separated relative paths.
    """

    def __init__(self, folder: Path, relative: np.ndarray) -> None:
        self.folder = Path(folder)
        self.relative = np.asarray(relative, dtype=np.bytes_)

    def __len__(self) -> int:
        return len(self.relative)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self.folder / os.fsdecode(self.relative[index])

    def __add__(self, other: Sequence[Path]) -> list[Path]:
        return list(self) + list(other)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PathList):
            return self.folder == other.folder and np.array_equal(self.relative, other.relative)
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  (mutable-like, as a list)

    def encoded(self, ids: np.ndarray) -> np.ndarray:
        """Full paths of the entries ``ids`` as one bytes array (the dataset's storage)."""
        prefix = os.fsencode(str(self.folder)).rstrip(b"/") + b"/"
        return np.char.add(np.bytes_(prefix), self.relative[ids])

    def name_depth(self) -> int:
        """:func:`name_depth` of these paths, read from the bytes (the folder's last parts
        stand in front of every entry, as they do in the full paths)."""
        n = len(self)
        folder = b"/".join(os.fsencode(part) for part in self.folder.parts[-4:]) + b"/"
        for depth in range(1, 5):
            names = set()
            for rel in self.relative.tolist():
                parts = (folder + rel).rsplit(b"/", depth)[-depth:]
                stem = parts[-1]
                dot = stem.rfind(b".")
                parts[-1] = stem[:dot] if dot > 0 else stem
                names.add(b"/".join(parts))
            if len(names) == n:
                return depth
        return 0


# ---------------------------------------------------------------------------------------------
# Sources


def list_images(root: Path) -> list[Path]:
    """Every image file under ``root`` (recursive, by extension), in a stable sorted order.

    Other files are left out with one log line; hidden files silently.
    """
    found: list[Path] = []
    others: list[str] = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder, name)
            (found if path.suffix.lower() in IMAGE_EXTENSIONS else others).append(path)
    if others:
        shown = ", ".join(str(p) for p in others[:5]) + (", ..." if len(others) > 5 else "")
        log.warning("ignored %d non-image file(s) under %s: %s", len(others), root, shown)
    return found


SPLIT_UNITS = ("file", "scene")


def split_by_fraction(
    paths: Sequence[Path],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    unit: str = "file",
) -> dict[str, list[Path]]:
    """A seeded random split; ``test`` is the ``val`` part when ``test_fraction`` is 0.

    ``unit="scene"`` draws whole scenes (:func:`~inpaintgan.data.scenes.scene_key`) instead
    of files: in the seeded order each scene goes to val, else test, if it fits in what that
    part still lacks of its share, else to train; so shots of one series never sit on both
    sides, and a large series cannot swell a held-out part.
    """
    if unit not in SPLIT_UNITS:
        raise ValueError(f"split unit must be one of {SPLIT_UNITS}, got {unit!r}")
    n = len(paths)

    def count(fraction: float) -> int:
        return 0 if fraction <= 0 or n < 2 else max(1, round(fraction * n))

    n_val, n_test = count(val_fraction), count(test_fraction)
    if n_val + n_test >= n:
        raise DataError(
            f"cannot split {n} image(s) into val_fraction={val_fraction} and "
            f"test_fraction={test_fraction} and still keep training images"
        )
    if unit == "file":
        order = np.random.default_rng(seed).permutation(n)
        pick = [paths[i] for i in order]
        val, test = sorted(pick[:n_val]), sorted(pick[n_val : n_val + n_test])
        return {"train": sorted(pick[n_val + n_test :]), "val": val, "test": test or val}
    groups: dict[str, list[Path]] = {}
    for path in sorted(paths):
        groups.setdefault(scene_key(path), []).append(path)
    keys = sorted(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    parts: dict[str, list[Path]] = {"val": [], "test": [], "train": []}
    for index in order:
        files = groups[keys[index]]
        if len(parts["val"]) + len(files) <= n_val:
            parts["val"] += files
        elif len(parts["test"]) + len(files) <= n_test:
            parts["test"] += files
        else:
            parts["train"] += files
    for name, wanted in (("train", 1), ("val", n_val)):
        if wanted and not parts[name]:
            raise DataError(
                f"a split by scene left no {name} images: {n} images in {len(keys)} scenes "
                "(data.source.unit=file splits by image)"
            )
    split = {name: sorted(files) for name, files in parts.items()}
    split["test"] = split["test"] or split["val"]
    return split


def _require_root(root: str | os.PathLike | None, expected: str) -> Path:
    if root is None or str(root) in ("", "???"):
        raise DataError(f"data.root is not set (expected {expected})")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"data.root {path} does not exist or is not a folder (expected {expected})")
    return path


def _check_listed(paths: Sequence[Path], list_file: Path, expected: str) -> Sequence[Path]:
    """Fail early when a split file names no files, or none of its first entries exist."""
    if not paths:
        raise DataError(f"{list_file} lists no images (expected {expected})")
    head = paths[:5]
    if not any(p.is_file() for p in head):
        raise DataError(
            f"{head[0]} (listed in {list_file}) not found, nor the next {len(head) - 1} "
            f"(expected {expected})"
        )
    # Entries spread over the whole list, the last included: a list over the wrong image set
    # (e.g. the Challenge list over the Standard images) starts with files that exist.
    last = len(paths) - 1
    spread = sorted({round(i * last / (SPREAD_CHECKS - 1)) for i in range(SPREAD_CHECKS)})
    missing = [paths[i] for i in spread if not paths[i].is_file()]
    if 2 * len(missing) > len(spread):
        raise DataError(
            f"{len(missing)} of {len(spread)} entries sampled across {list_file} not found "
            f"(first: {missing[0]}): the image folder does not hold this list's images "
            f"(expected {expected})"
        )
    return paths


class ImageSource(ABC):
    """A data set on disk: ``paths(split)`` lists its image files for one split."""

    def paths(self, split: str) -> list[Path]:
        """Image files of ``split`` (train, val, test or all), in a stable order."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
        return self._paths(split)

    @abstractmethod
    def _paths(self, split: str) -> list[Path]: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(getattr(self, 'root', None))!r})"


class FolderSource(ImageSource):
    """Any directory tree of images (jpg/jpeg/png/webp/bmp).

    ``split="folders"`` uses sub-folders ``train/``, ``val/`` (or ``valid/``,
    ``validation/``) and ``test/``; missing val is cut from train by ``val_fraction``,
    missing test is val. ``split="fraction"`` splits the whole tree by
    ``val_fraction``/``test_fraction`` with ``seed``, drawing files or (``unit="scene"``)
    whole scenes of near-duplicate shots (:mod:`inpaintgan.data.scenes`).
    ``split="auto"`` picks ``folders`` when ``train/`` exists. ``all`` is every image of the tree.
    """

    _VAL_DIRS = ("val", "valid", "validation")

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "auto",
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        seed: int = 0,
        unit: str = "file",
    ) -> None:
        if split not in ("auto", "folders", "fraction"):
            raise ValueError(f"split must be auto, folders or fraction, got {split!r}")
        if unit not in SPLIT_UNITS:
            raise ValueError(f"data.source.unit must be one of {SPLIT_UNITS}, got {unit!r}")
        self.unit = unit
        self.root = root
        self.split, self.val_fraction, self.test_fraction = split, val_fraction, test_fraction
        self.seed = int(seed)
        self._cache: dict[str, list[Path]] | None = None
        self._every: list[Path] | None = None

    def _expected(self) -> str:
        return (
            f"a folder tree of {EXTENSIONS_TEXT} images, optionally split into "
            "train/ val/ test/ sub-folders"
        )

    def _scan(self, folder: Path) -> list[Path]:
        paths = list_images(folder)
        if not paths:
            raise DataError(f"{folder} contains no images (expected {self._expected()})")
        return paths

    def _all(self) -> list[Path]:
        if self._every is None:
            self._every = self._scan(_require_root(self.root, self._expected()))
        return self._every

    def _splits(self) -> dict[str, list[Path]]:
        if self._cache is not None:
            return self._cache
        root = _require_root(self.root, self._expected())
        by_folders = self.split == "folders" or (self.split == "auto" and (root / "train").is_dir())
        if not by_folders:
            self._cache = split_by_fraction(
                self._all(), self.val_fraction, self.test_fraction, self.seed, self.unit
            )
            return self._cache
        if not (root / "train").is_dir():
            raise DataError(f"{root / 'train'} not found (data.source.split=folders expects it)")
        train = self._scan(root / "train")
        val_dir = next((root / d for d in self._VAL_DIRS if (root / d).is_dir()), None)
        if val_dir is None:
            splits = split_by_fraction(train, self.val_fraction, 0.0, self.seed, self.unit)
        else:
            splits = {"train": train, "val": self._scan(val_dir)}
        test_dir = root / "test"
        splits["test"] = self._scan(test_dir) if test_dir.is_dir() else splits["val"]
        self._cache = splits
        return splits

    def _paths(self, split: str) -> list[Path]:
        return list(self._all() if split == "all" else self._splits()[split])


def sample_root() -> Path:
    """The folder of embedded sample photos shipped inside the package."""
    return Path(str(resources.files("inpaintgan.sample_data").joinpath("scenes")))


class SampleSource(FolderSource):
    """The embedded real photos (41 at 256²): a seeded split, 35 train / 6 val; test = val."""

    def __init__(self, val_fraction: float = 0.15, seed: int = 0) -> None:
        super().__init__(sample_root(), split="fraction", val_fraction=val_fraction, seed=seed)


class CelebASource(ImageSource):
    """CelebA as distributed: ``img_align_celeba/`` + ``list_eval_partition.txt``.

    ``root`` may also be the folder above (torchvision's ``root/celeba/``); the Kaggle copy
    (``img_align_celeba/img_align_celeba/``, ``list_eval_partition.csv``) is accepted too.
    Partition 0/1/2 = train/val/test.
    """

    EXPECTED = "img_align_celeba/*.jpg and list_eval_partition.txt ('000001.jpg 0' lines)"

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = root
        self._cache: dict[str, list[Path]] | None = None

    def _locate(self) -> tuple[Path, Path]:
        root = _require_root(self.root, f"CelebA: {self.EXPECTED}")
        base = root
        if not (root / "img_align_celeba").is_dir() and (root / "celeba").is_dir():
            base = root / "celeba"
        images = base / "img_align_celeba"
        if (images / "img_align_celeba").is_dir():
            images = images / "img_align_celeba"
        candidates = (base / "list_eval_partition.txt", base / "list_eval_partition.csv")
        split_file = next((f for f in candidates if f.is_file()), None)
        if split_file is None:
            raise DataError(
                f"CelebA split file {base / 'list_eval_partition.txt'} not found "
                f"(expected {self.EXPECTED})"
            )
        if not images.is_dir():
            raise DataError(f"CelebA image folder {images} not found (expected {self.EXPECTED})")
        return images, split_file

    @staticmethod
    def _read_partition(split_file: Path) -> list[tuple[str, int]]:
        with split_file.open(newline="") as handle:
            if split_file.suffix == ".csv":
                rows = [r for r in csv.reader(handle) if r]
                rows = rows[1:] if rows and not rows[0][-1].strip().isdigit() else rows
            else:
                rows = [line.split() for line in handle if line.strip()]
        entries = []
        for number, row in enumerate(rows, 1):
            if len(row) != 2 or row[1].strip() not in ("0", "1", "2"):
                raise DataError(
                    f"{split_file} entry {number}: expected '<image>.jpg <0|1|2>', got "
                    f"{' '.join(row)!r}"
                )
            entries.append((row[0].strip(), int(row[1])))
        return entries

    def _splits(self) -> dict[str, list[Path]]:
        if self._cache is None:
            images, split_file = self._locate()
            entries = self._read_partition(split_file)
            splits: dict[str, list[Path]] = {s: [] for s in SPLITS}
            for name, part in entries:
                path = images / name
                splits[("train", "val", "test")[part]].append(path)
                splits["all"].append(path)
            _check_listed(splits["all"], split_file, f"CelebA: {self.EXPECTED}")
            self._cache = splits
        return self._cache

    def _paths(self, split: str) -> list[Path]:
        paths = list(self._splits()[split])
        if not paths:
            raise DataError(f"CelebA split file lists no {split} images under {self.root}")
        return paths


class Places2Source(ImageSource):
    """Places365 (Standard or Challenge), in either official layout (``root`` points at it).

    * file lists: ``places365_train_standard.txt`` (``/a/airfield/00000001.jpg 0``) or
      ``places365_train_challenge.txt`` (``variant``) over the training images, and
      ``places365_val.txt`` (``Places365_val_00000001.jpg 165``) over the validation images
      (``places365_test.txt`` for ``test_split="test"``). Image folders, by ``resolution``
      (torchvision's ``small=True/False``): ``small`` = the 256² archives (``data_256/``,
      torchvision's ``data_256_standard/`` / ``data_256_challenge/``, ``val_256/``,
      ``test_256/``), ``large`` = the full-resolution ones (``data_large*/``, ``val_large/``,
      ``test_large/``). One resolution serves every split.
    * folders: ``train/<category>/...`` and ``val/`` (any depth); no variant, no resolution.

    ``variant`` / ``resolution`` None pick what is on disk; when both training lists (or both
    resolutions) are there, one warning line says which was taken and how to choose. A chosen
    layout that is not on disk is one :class:`DataError` naming the missing file or folder.
    The official validation set is also the test split by default (it is what inpainting
    papers report on; the test set's images carry no labels but are usable with
    ``test_split="test"``).
    """

    VARIANTS, RESOLUTIONS = ("standard", "challenge"), ("small", "large")
    TRAIN_LISTS = {v: f"places365_train_{v}.txt" for v in VARIANTS}
    TRAIN_LIST = TRAIN_LISTS["standard"]
    VAL_LIST, TEST_LIST = "places365_val.txt", "places365_test.txt"
    _SIZE = {"small": "256", "large": "large"}
    EXPECTED = (
        "Places365: places365_train_standard.txt (or _challenge.txt) + data_256/ and "
        "places365_val.txt + val_256/ (or data_large/ + val_large/), or folders "
        "train/<category>/ and val/"
    )

    def __init__(
        self,
        root: str | os.PathLike,
        test_split: str = "val",
        variant: str | None = None,
        resolution: str | None = None,
    ) -> None:
        if test_split not in ("val", "test"):
            raise ValueError(f"test_split must be 'val' or 'test', got {test_split!r}")
        if variant not in (None, *self.VARIANTS):
            raise ValueError(f"data.variant must be standard, challenge or null, got {variant!r}")
        if resolution not in (None, *self.RESOLUTIONS):
            raise ValueError(f"data.resolution must be small, large or null, got {resolution!r}")
        self.root, self.test_split = root, test_split
        self.variant, self.resolution = variant, resolution
        self._chosen: dict[str, str] = {}

    @classmethod
    def train_dirs(cls, variant: str, resolution: str) -> tuple[str, ...]:
        """Training image folders accepted for (variant, resolution), most specific first."""
        size = cls._SIZE[resolution]
        names = (f"data_{size}_{variant}", f"data_{size}", f"train_{size}_places365{variant}")
        return names + ((f"train_{size}",) if variant == "standard" else ())

    @classmethod
    def eval_dirs(cls, split: str, resolution: str) -> tuple[str, ...]:
        """The val/test image folder for ``resolution`` (``val_256`` / ``val_large``...)."""
        return (f"{split}_{cls._SIZE[resolution]}",)

    def _list_names(self) -> tuple[str, ...]:
        return (*self.TRAIN_LISTS.values(), self.VAL_LIST, self.TEST_LIST)

    def _dirs(self, resolution: str) -> tuple[str, ...]:
        train = {d for v in self.VARIANTS for d in self.train_dirs(v, resolution)}
        evals = (*self.eval_dirs("val", resolution), *self.eval_dirs("test", resolution))
        return (*sorted(train), *evals)

    def _layout(self, root: Path) -> str:
        names = (*self._list_names(), *self._dirs("small"), *self._dirs("large"))
        if any((root / n).exists() for n in names):
            return "lists"
        if (root / "train").is_dir() or (root / "val").is_dir():
            if self.variant is not None or self.resolution is not None:
                raise DataError(
                    f"data.root {root} holds the folders layout (train/, val/), which has no "
                    "variant or resolution: leave data.variant and data.resolution null"
                )
            return "folders"
        raise DataError(f"data.root {root} holds no Places365 layout (expected {self.EXPECTED})")

    def chosen_variant(self, root: Path) -> str:
        """``variant``, or the training list on disk (standard when both are, with a warning)."""
        if self.variant is not None:
            return self.variant
        if "variant" not in self._chosen:
            present = [v for v in self.VARIANTS if (root / self.TRAIN_LISTS[v]).is_file()]
            if len(present) == 2:
                warnings.warn(
                    f"{root} holds both {self.TRAIN_LISTS['standard']} and "
                    f"{self.TRAIN_LISTS['challenge']}: training on Places365-Standard; set "
                    "data.variant=standard or data.variant=challenge to choose",
                    UserWarning,
                    stacklevel=2,
                )
            self._chosen["variant"] = present[-1] if len(present) == 1 else "standard"
        return self._chosen["variant"]

    def chosen_resolution(self, root: Path) -> str:
        """``resolution``, or the one whose folders are on disk (small when both are, warned)."""
        if self.resolution is not None:
            return self.resolution
        if "resolution" not in self._chosen:
            present = [
                r for r in self.RESOLUTIONS if any((root / d).is_dir() for d in self._dirs(r))
            ]
            if len(present) == 2:
                warnings.warn(
                    f"{root} holds both 256x256 (data_256/, val_256/...) and full-resolution "
                    "(data_large/, val_large/...) Places365 folders: every split reads the "
                    "256x256 ones; set data.resolution=small or data.resolution=large to choose",
                    UserWarning,
                    stacklevel=2,
                )
            self._chosen["resolution"] = present[0] if present else "small"
        return self._chosen["resolution"]

    def _from_list(
        self, root: Path, list_name: str, dirs: Sequence[str], why: str = ""
    ) -> Sequence[Path]:
        list_file = root / list_name
        if not list_file.is_file():
            raise DataError(
                f"Places365 split file {list_file} not found{why} (expected {self.EXPECTED})"
            )
        folder = next((root / d for d in dirs if (root / d).is_dir()), None)
        if folder is None:
            raise DataError(
                f"no image folder for {list_name} under {root}{why} (expected one of "
                f"{', '.join(d + '/' for d in dirs)})"
            )
        with list_file.open("rb") as handle:
            relative = np.array(
                [line.split(None, 1)[0].lstrip(b"/") for line in handle if line.strip()],
                dtype=np.bytes_,
            )
        return _check_listed(PathList(folder, relative), list_file, self.EXPECTED)

    def _from_folder(self, root: Path, name: str) -> list[Path]:
        folder = root / name
        if not folder.is_dir():
            raise DataError(f"Places365 folder {folder} not found (expected {self.EXPECTED})")
        paths = list_images(folder)
        if not paths:
            raise DataError(f"{folder} contains no images (expected {self.EXPECTED})")
        return paths

    def _load(self, split: str) -> Sequence[Path]:
        root = _require_root(self.root, self.EXPECTED)
        if self._layout(root) == "folders":
            return self._from_folder(root, self.test_split if split == "test" else split)
        resolution = self.chosen_resolution(root)
        why = f" (data.resolution={resolution})"
        if split == "train":
            variant = self.chosen_variant(root)
            if self.variant is None and not (root / self.TRAIN_LISTS[variant]).is_file():
                raise DataError(
                    f"no Places365 training list under {root} (expected "
                    f"{self.TRAIN_LISTS['standard']} or {self.TRAIN_LISTS['challenge']})"
                )
            why = f" (data.variant={variant}, data.resolution={resolution})"
            dirs = self.train_dirs(variant, resolution)
            return self._from_list(root, self.TRAIN_LISTS[variant], dirs, why)
        if split == "test" and self.test_split == "test":
            return self._from_list(root, self.TEST_LIST, self.eval_dirs("test", resolution), why)
        return self._from_list(root, self.VAL_LIST, self.eval_dirs("val", resolution), why)

    def _paths(self, split: str) -> Sequence[Path]:
        # Not cached: a list of millions of Path objects kept in the main process would be
        # inherited by every forked loader worker, where a full garbage collection writes to
        # every tracked object's header (copy-on-write copies). The data module keeps the
        # dataset's compact array instead and asks for each split once.
        if split == "all":
            return self._paths("train") + self._paths("val")
        return self._load(split)

    def __repr__(self) -> str:
        return (
            f"Places2Source(root={str(self.root)!r}, variant={self.variant!r}, "
            f"resolution={self.resolution!r})"
        )


# ---------------------------------------------------------------------------------------------
# Dataset


def name_depth(paths: Sequence[Path]) -> int:
    """How many trailing path parts make unique sample names: 1 (the file stem) unless stems
    repeat across folders (Places365 categories), then 2-4; 0 when even that is not enough."""
    for depth in range(1, 5):
        names = {(*p.parent.parts[len(p.parent.parts) - depth + 1 :], p.stem) for p in paths}
        if len(names) == len(paths):
            return depth
    return 0


def sample_name(path: Path, depth: int, index: int) -> str:
    """``stem``, ``folder_stem``... for ``depth`` (see :func:`name_depth`); ``stem_index`` for 0."""
    if depth == 0:
        return f"{path.stem}_{index}"
    return "_".join((*path.parent.parts[len(path.parent.parts) - depth + 1 :], path.stem))


def mask_failure_message(reasons: Sequence[str], draws: int, mask: object) -> str:
    """Why no mask could be drawn: how many distinct files failed in ``draws`` draws in a row
    (one broken file drawn 16 times is one file, not "16 mask files"), blaming mask.root."""
    distinct = list(dict.fromkeys(reasons))
    total = len(getattr(mask, "files", ()) or ())
    if total and len(distinct) >= total:
        what = f"all {total} mask file(s) are unreadable"
    elif len(distinct) == 1:
        what = f"1 mask file failed {draws} draws in a row"
    else:
        what = f"{len(distinct)} mask files failed {draws} draws in a row"
    return f"{what} (last: {distinct[-1]}); check the mask folder (mask.root)"


class InpaintingDataset(Dataset):
    """``(image, mask, name)`` samples at ``size``² from a list of image files.

    Samples are compact: ``image`` is ``uint8 [3, size, size]`` (0-255) and ``mask`` is
    ``bool [1, size, size]`` (True = missing), a quarter of the bytes of float32, so batches
    cross process and host-device boundaries small;
    :func:`~inpaintgan.data.datamodule.to_float_batch` (which the data module runs on the
    device) turns them into float ``[0, 1]`` / ``{0, 1}``.

    Images: shorter side resized to ``size``, then a center crop; for training, the shorter
    side is resized to a random length in ``[size, load_size]`` (scale jitter; just ``size``
    when ``load_size`` is None) and a random crop + horizontal flip is taken.
    Randomness comes from ``np.random.default_rng([seed, train, epoch, index])`` only, so a
    sample is the same whatever worker or DDP rank draws it: validation/test samples and
    masks never change; training ones change with the epoch (:meth:`set_epoch`).
    ``subset`` (positions in ``paths``) serves only those files, each with the image, mask
    and name it has in the whole list: a fixed validation subset sees the very pairs a full
    pass would.

    For training, a file that cannot be read is replaced by the next one; the sample then
    carries the one-line reason under ``"skipped"`` (and ``"upscaled"`` marks images smaller
    than the crop) for the data loader to report. With ``substitute=False`` (evaluation) a
    broken file is never replaced: its sample has ``"image": None`` and ``"broken"`` = its
    name, and :func:`~inpaintgan.data.datamodule.collate` drops it, so every readable file
    is scored exactly once and no stand-in is.
    """

    MAX_TRIES = 16

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        size: int,
        mask: MaskGenerator,
        train: bool,
        seed: int = 0,
        load_size: int | None = None,
        subset: Sequence[int] | None = None,
    ) -> None:
        if not paths:
            raise DataError("no images to build a dataset from")
        listed = isinstance(paths, PathList)  # millions of entries: kept as bytes throughout
        if not listed:
            paths = [p if isinstance(p, Path) else Path(p) for p in paths]
        self._name_depth = paths.name_depth() if listed else name_depth(paths)
        # Positions in the whole list: they, not the position in the subset, seed each sample.
        ids = np.arange(len(paths)) if subset is None else np.asarray(subset, dtype=np.int64)
        if ids.size == 0 or ids.min() < 0 or ids.max() >= len(paths):
            raise DataError(f"subset must be non-empty positions in [0, {len(paths)})")
        self._ids = ids
        # Paths as one bytes array: no per-item Python objects for forked workers to copy.
        if listed:
            self._paths = paths.encoded(ids)
        else:
            self._paths = np.array([os.fsencode(paths[i]) for i in ids])
        self.size, self.mask, self.train, self.seed = int(size), mask, bool(train), int(seed)
        self.load_size = max(int(load_size or size), self.size) if train else self.size
        # Shared memory, so persistent worker processes see epoch changes too.
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        self.substitute = True

    def __len__(self) -> int:
        return len(self._paths)

    def path(self, index: int) -> Path:
        return Path(os.fsdecode(self._paths[index]))

    def set_epoch(self, epoch: int) -> None:
        """Training crops, flips and masks are drawn afresh for each epoch."""
        self._epoch.fill_(int(epoch))

    def rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index``: (seed, train, epoch, position in the whole list)."""
        epoch = int(self._epoch.item()) if self.train else 0
        return np.random.default_rng([self.seed, int(self.train), epoch, int(self._ids[index])])

    def _image(self, path: Path, rng: np.random.Generator) -> tuple[torch.Tensor, bool]:
        image = load_rgb(path, draft_size=self.load_size)
        upscaled = min(image.size) < self.size
        side = self.load_size
        if self.train and self.load_size > self.size:  # scale jitter: side in [size, load_size]
            side = int(rng.integers(self.size, self.load_size + 1))
        if min(image.size) != side:
            image = TF.resize(image, [side], InterpolationMode.BICUBIC, antialias=True)
        width, height = image.size
        if self.train:
            top = int(rng.integers(0, height - self.size + 1))
            left = int(rng.integers(0, width - self.size + 1))
        else:
            top, left = (height - self.size) // 2, (width - self.size) // 2
        image = TF.crop(image, top, left, self.size, self.size)
        if self.train and rng.random() < 0.5:
            image = TF.horizontal_flip(image)
        # numpy, not torch: tiny torch ops would start intra-op threads that fight the model
        # for cores when the loader runs in the main process (num_workers=0). uint8: the
        # division by 255 happens on the device (to_float_batch).
        chw = np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1))
        return torch.from_numpy(chw), upscaled

    def __getitem__(self, index: int) -> dict:
        rng = self.rng(index)
        skipped: list[str] = []
        offset = 0
        tries = min(self.MAX_TRIES, len(self)) if self.substitute else 1
        mask_failures = 0
        while offset < tries and mask_failures < self.MAX_TRIES:
            j = (index + offset) % len(self)
            try:
                image, upscaled = self._image(self.path(j), rng)
            except ImageLoadError as err:
                skipped.append(str(err))
                offset += 1
                if not self.substitute:
                    return {
                        "image": None,
                        "mask": None,
                        "name": sample_name(self.path(j), self._name_depth, int(self._ids[j])),
                        "broken": str(self.path(j)),
                        "skipped": skipped,
                        "upscaled": False,
                    }
                continue
            try:
                mask = self.mask(self.size, self.size, rng)
            except ImageLoadError as err:  # a broken mask file: draw another one
                skipped.append(str(err))
                mask_failures += 1
                continue
            return {
                "image": image,
                "mask": torch.from_numpy(np.ascontiguousarray(mask > 0.5))[None],
                "name": sample_name(self.path(j), self._name_depth, int(self._ids[j])),
                "skipped": skipped,
                "upscaled": upscaled,
            }
        if mask_failures >= self.MAX_TRIES:
            raise DataError(mask_failure_message(skipped, mask_failures, self.mask))
        what = (
            f"all {len(self)} image files are unreadable"
            if tries == len(self)
            else f"{tries} unreadable files in a row from {self.path(index)} on"
        )
        raise DataError(f"{what} (last: {skipped[-1]}); check data.root")
