"""Sources, dataset and data module on small trees in the official layouts, broken files
included: splits, shapes, ranges, fixed eval masks, reports and one-line errors."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from helpers import noise_photo
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image
from torch.utils.data import DataLoader, DistributedSampler

from inpaintgan.data.bench import benchmark_loader
from inpaintgan.data.datamodule import (
    REPORT_KEY,
    InpaintingDataModule,
    ReportingDataLoader,
    evenly_spread,
    image_to_float,
    to_float_batch,
)
from inpaintgan.data.datasets import (
    CelebASource,
    FolderSource,
    InpaintingDataset,
    PathList,
    Places2Source,
    SampleSource,
    name_depth,
    sample_root,
)
from inpaintgan.data.images import DataError
from inpaintgan.data.masks import CenterMask, IrregularMask, MixedMask, RectMask

CONF = Path(__file__).resolve().parents[1] / "conf" / "data"
SIZE = 32


def _photo(path: Path, size: tuple[int, int] = (48, 40), seed: int = 0) -> Path:
    """A noise JPEG/PNG (width, height) so that every crop and image differs."""
    return noise_photo(path, size, seed)


def _module(source, mask=None, **kwargs) -> InpaintingDataModule:
    options = {"size": SIZE, "batch_size": 4, "num_workers": 0, "seed": 7}
    return InpaintingDataModule(source, mask or CenterMask(), **{**options, **kwargs})


def _one_line_error(call, *fragments: str) -> str:
    with pytest.raises(DataError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def _check_batch(batch: dict, size: int = SIZE) -> None:
    """A loader batch: uint8 images and bool masks; to_float_batch → float [0,1] / {0,1}."""
    assert set(batch) == {"image", "mask", "name"}
    n = len(batch["name"])
    assert batch["image"].shape == (n, 3, size, size) and batch["image"].dtype == torch.uint8
    assert batch["mask"].shape == (n, 1, size, size) and batch["mask"].dtype == torch.bool
    floats = to_float_batch(batch)
    assert floats["image"].dtype == floats["mask"].dtype == torch.float32
    assert 0 <= floats["image"].min() and floats["image"].max() <= 1
    assert set(floats["mask"].unique().tolist()) <= {0.0, 1.0}


def _by_name(loader) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {
        n: (i, m) for b in loader for n, i, m in zip(b["name"], b["image"], b["mask"], strict=True)
    }


# --------------------------------------------------------------------------- CelebA


@pytest.fixture
def celeba(tmp_path) -> Path:
    root = tmp_path / "celeba_root"
    lines = []
    for i in range(1, 11):
        name = f"{i:06d}.jpg"
        _photo(root / "img_align_celeba" / name, (36, 44), seed=i)  # CelebA's 178x218, shrunk
        lines.append(f"{name} {0 if i <= 6 else 1 if i <= 8 else 2}")
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


def test_celeba_official_layout(celeba):
    source = CelebASource(celeba)
    counts = {s: len(source.paths(s)) for s in ("train", "val", "test", "all")}
    assert counts == {"train": 6, "val": 2, "test": 2, "all": 10}
    assert source.paths("val")[0] == celeba / "img_align_celeba" / "000007.jpg"
    dm = _module(source)
    dm.setup("fit")
    _check_batch(next(iter(dm.train_dataloader())))
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()))
    assert batch["name"] == ["000009", "000010"]


def test_celeba_torchvision_and_kaggle_layouts(celeba, tmp_path):
    outer = tmp_path / "outer"
    outer.mkdir()
    celeba.rename(outer / "celeba")  # torchvision: <root>/celeba/img_align_celeba
    assert len(CelebASource(outer).paths("train")) == 6

    kaggle = tmp_path / "kaggle"
    (kaggle / "img_align_celeba").mkdir(parents=True)
    (outer / "celeba" / "img_align_celeba").rename(kaggle / "img_align_celeba" / "img_align_celeba")
    rows = ["image_id,partition"] + [
        f"{i:06d}.jpg,{0 if i <= 6 else 1 if i <= 8 else 2}" for i in range(1, 11)
    ]
    (kaggle / "list_eval_partition.csv").write_text("\n".join(rows) + "\n")
    assert len(CelebASource(kaggle).paths("test")) == 2


def test_celeba_errors(celeba, tmp_path):
    missing = tmp_path / "nowhere"
    _one_line_error(lambda: CelebASource(missing).paths("train"), str(missing), "img_align_celeba")
    _one_line_error(lambda: _module(CelebASource(missing)).setup("fit"), str(missing))
    _one_line_error(lambda: CelebASource(None).paths("train"), "data.root is not set")

    (celeba / "list_eval_partition.txt").rename(celeba / "moved.txt")
    _one_line_error(
        lambda: CelebASource(celeba).paths("train"), "list_eval_partition.txt", "not found"
    )
    (celeba / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg train\n")
    _one_line_error(lambda: CelebASource(celeba).paths("train"), "entry 2", "000002.jpg train")
    (celeba / "list_eval_partition.txt").write_text("".join(f"x{i}.jpg 0\n" for i in range(9)))
    _one_line_error(lambda: CelebASource(celeba).paths("train"), "x0.jpg", "not found")


# --------------------------------------------------------------------------- Places365


@pytest.fixture
def places_lists(tmp_path) -> Path:
    root = tmp_path / "places365"
    train = ["/a/airfield/00000001.jpg 0", "/a/airfield/00000002.jpg 0", "/b/bakery/00000001.jpg 1"]
    for i, line in enumerate(train):
        _photo(root / "data_256" / line.split()[0].lstrip("/"), (40, 40), seed=i)
    val = [f"Places365_val_{i:08d}.jpg {i * 7}" for i in range(1, 4)]
    for i, line in enumerate(val):
        _photo(root / "val_256" / line.split()[0], (40, 40), seed=10 + i)
    (root / "places365_train_standard.txt").write_text("\n".join(train) + "\n")
    (root / "places365_val.txt").write_text("\n".join(val) + "\n")
    return root


def test_places_file_list_layout(places_lists):
    source = Places2Source(places_lists)
    train = source.paths("train")
    assert train[0] == places_lists / "data_256" / "a" / "airfield" / "00000001.jpg"
    assert len(train) == 3 and len(source.paths("val")) == 3 and len(source.paths("all")) == 6
    assert source.paths("test") == source.paths("val")
    dm = _module(source, batch_size=2)
    dm.setup("fit")
    _check_batch(next(iter(dm.train_dataloader())))
    train_set = dm.dataset("train")
    # stems repeat across categories: the folder is prefixed so names stay unique
    names = [train_set[i]["name"] for i in range(3)]
    assert names == ["airfield_00000001", "airfield_00000002", "bakery_00000001"]
    assert [n for b in dm.val_dataloader() for n in b["name"]][0] == "Places365_val_00000001"


def test_places_alternative_dirs_and_test_split(places_lists):
    (places_lists / "data_256").rename(places_lists / "train_256")
    assert len(Places2Source(places_lists).paths("train")) == 3
    _photo(places_lists / "test_256" / "Places365_test_00000001.jpg", (40, 40))
    (places_lists / "places365_test.txt").write_text("Places365_test_00000001.jpg\n")
    assert len(Places2Source(places_lists, test_split="test").paths("test")) == 1


def test_places_folder_layout(tmp_path):
    root = tmp_path / "places365_standard"
    for i, cat in enumerate(["airfield", "bakery"]):
        for j in range(2):
            _photo(root / "train" / cat / f"{j:08d}.jpg", seed=i * 2 + j)
        _photo(root / "val" / cat / f"Places365_val_{i:08d}.jpg", seed=9 + i)
    source = Places2Source(root)
    assert len(source.paths("train")) == 4 and len(source.paths("val")) == 2
    assert source.paths("test") == source.paths("val")
    dataset = InpaintingDataset(source.paths("train"), SIZE, CenterMask(), train=True)
    names = {dataset[i]["name"] for i in range(len(dataset))}
    assert names == {"airfield_00000000", "airfield_00000001", "bakery_00000000", "bakery_00000001"}


def test_places_errors(places_lists, tmp_path):
    _one_line_error(lambda: Places2Source(tmp_path / "x").paths("train"), str(tmp_path / "x"))
    (tmp_path / "empty").mkdir()
    _one_line_error(
        lambda: Places2Source(tmp_path / "empty").paths("train"),
        "no Places365 layout",
        "places365_train_standard.txt",
        "train/<category>/",
    )
    (places_lists / "places365_val.txt").unlink()
    source = Places2Source(places_lists)
    assert len(source.paths("train")) == 3
    _one_line_error(lambda: source.paths("val"), "places365_val.txt", "not found")
    _one_line_error(lambda: _module(Places2Source(places_lists)).setup("fit"), "places365_val")
    (places_lists / "val_256").rename(places_lists / "elsewhere")
    (places_lists / "places365_val.txt").write_text("Places365_val_00000001.jpg 1\n")
    _one_line_error(lambda: Places2Source(places_lists).paths("val"), "val_256/")


# --------------------------------------------------------------------------- folders, sample


def test_folder_split_by_subfolders(tmp_path):
    for split, n in (("train", 5), ("val", 2), ("test", 3)):
        for i in range(n):
            _photo(tmp_path / split / f"{split}{i}.png", seed=i)
    source = FolderSource(tmp_path)
    assert [len(source.paths(s)) for s in ("train", "val", "test", "all")] == [5, 2, 3, 10]
    (tmp_path / "test").rename(tmp_path / "other")
    assert FolderSource(tmp_path).paths("test") == FolderSource(tmp_path).paths("val")


def test_folder_split_by_fraction_is_seeded_and_disjoint(tmp_path):
    for i in range(20):
        _photo(tmp_path / f"d{i % 3}" / f"img{i}.webp", seed=i)
    a = FolderSource(tmp_path, split="fraction", val_fraction=0.2, test_fraction=0.1, seed=1)
    b = FolderSource(tmp_path, split="fraction", val_fraction=0.2, test_fraction=0.1, seed=1)
    c = FolderSource(tmp_path, split="fraction", val_fraction=0.2, test_fraction=0.1, seed=2)
    parts = [set(a.paths(s)) for s in ("train", "val", "test")]
    assert [len(p) for p in parts] == [14, 4, 2]
    assert parts[0].isdisjoint(parts[1]) and parts[1].isdisjoint(parts[2])
    assert a.paths("val") == b.paths("val") != c.paths("val")


def test_folder_errors(tmp_path, caplog):
    _one_line_error(lambda: FolderSource(tmp_path / "missing").paths("train"), "does not exist")
    (tmp_path / "notes.txt").write_text("hi")
    with caplog.at_level(logging.WARNING):
        _one_line_error(lambda: FolderSource(tmp_path).paths("train"), "contains no images")
    assert "notes.txt" in caplog.text


def test_sample_source_is_in_the_package():
    import inpaintgan

    root = sample_root()
    assert root.is_dir() and Path(inpaintgan.__file__).parent in root.parents
    source = SampleSource()
    counts = [len(source.paths(s)) for s in ("train", "val", "test", "all")]
    assert counts == [35, 6, 6, 41] and source.paths("test") == source.paths("val")
    assert all(p.suffix == ".jpg" for p in source.paths("all"))


# --------------------------------------------------------------------------- data module


def test_sample_config_batches():
    cfg = OmegaConf.load(CONF / "sample.yaml")
    cfg.num_workers = 0
    dm = instantiate(cfg, mask=CenterMask(), seed=42)
    dm.setup("fit")
    assert len(dm.train_dataloader()) == 35 // 4  # drop_last
    batch = next(iter(dm.train_dataloader()))
    _check_batch(batch, 128)
    val = next(iter(dm.val_dataloader()))
    _check_batch(val, 128)
    val = to_float_batch(val)
    assert val["mask"].mean(dim=(1, 2, 3)).tolist() == [0.25] * 4  # 64² of 128²
    hole = val["mask"].bool().expand_as(val["image"])
    assert val["image"][~hole].std() > 0.1  # real photos, not blank


@pytest.mark.parametrize("name", ["folder", "celeba", "places2"])
def test_data_configs_instantiate(name, tmp_path, celeba, places_lists):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    for i in range(6):
        _photo(tmp_path / "imgs" / f"{i}.jpg", seed=i)
    cfg.root = str({"folder": tmp_path / "imgs", "celeba": celeba}.get(name, places_lists))
    cfg.num_workers, cfg.size, cfg.batch_size, cfg.pin_memory = 0, SIZE, 2, False
    dm = instantiate(cfg, mask=CenterMask(), seed=0)
    dm.setup("fit")
    _check_batch(next(iter(dm.train_dataloader())))
    _check_batch(next(iter(dm.val_dataloader())))


def test_every_image_has_its_own_mask():
    dm = _module(SampleSource(), IrregularMask("thick"), batch_size=8)
    dm.setup("fit")
    for batch in (next(iter(dm.train_dataloader())), next(iter(dm.val_dataloader()))):
        masks = batch["mask"].flatten(1)
        assert len({tuple(m.nonzero().flatten().tolist()) for m in masks}) == len(masks)


def test_training_crops_flips_and_upscaling(tmp_path):
    paths = [_photo(tmp_path / "wide.png", (120, 40)), _photo(tmp_path / "tiny.png", (10, 8))]
    train = InpaintingDataset(paths, SIZE, CenterMask(), train=True, seed=0)
    crops = set()
    for epoch in range(12):
        train.set_epoch(epoch)
        item = train[0]
        assert item["image"].shape == (3, SIZE, SIZE) and not item["upscaled"]
        crops.add(item["image"].sum(dtype=torch.int64).item())
    assert len(crops) > 6  # random crop positions / flips per epoch
    tiny = train[1]
    assert tiny["upscaled"] and tiny["image"].shape == (3, SIZE, SIZE)
    evaluation = InpaintingDataset(paths, SIZE, CenterMask(), train=False)
    wide = Image.open(paths[0]).resize((96, SIZE), Image.Resampling.BICUBIC)
    expected = np.asarray(wide)[:, 32:64].transpose(2, 0, 1) / 255
    center = image_to_float(evaluation[0]["image"]).numpy()
    assert np.abs(center - expected).max() < 0.05  # center crop


def test_load_size_random_crop(tmp_path):
    path = _photo(tmp_path / "a.png", (64, 64))
    dataset = InpaintingDataset([path], SIZE, CenterMask(), train=True, load_size=48)
    assert dataset.load_size == 48
    seen = set()
    for epoch in range(8):
        dataset.set_epoch(epoch)
        seen.add(round(image_to_float(dataset[0]["image"]).mean().item(), 6))
    assert len(seen) > 4


# --------------------------------------------------------------------------- determinism


def test_eval_masks_fixed_across_workers_and_runs():
    mask = MixedMask([IrregularMask("medium"), RectMask()])

    def run(workers: int) -> dict:
        dm = _module(SampleSource(), mask, num_workers=workers, size=64, batch_size=4)
        dm.setup("fit")
        first = _by_name(dm.val_dataloader())
        assert first.keys() == _by_name(dm.val_dataloader()).keys()
        return first

    a, b, c = run(0), run(2), run(0)
    assert len(a) == 6 and a.keys() == b.keys() == c.keys()
    for name in a:
        for other in (b, c):
            assert torch.equal(a[name][1], other[name][1]) and torch.equal(
                a[name][0], other[name][0]
            )


def test_train_samples_reproducible_across_workers_and_change_per_epoch():
    def epochs(workers: int, persistent: bool) -> list[dict]:
        dm = _module(
            SampleSource(),
            IrregularMask("medium"),
            num_workers=workers,
            persistent_workers=persistent,
            size=64,
            batch_size=5,
        )
        dm.setup("fit")
        loader = dm.train_dataloader()
        return [_by_name(loader) for _ in range(2)]

    base = epochs(0, False)
    for other in (epochs(2, True), epochs(2, False)):
        for mine, theirs in zip(base, other, strict=True):
            assert mine.keys() == theirs.keys()
            for name in mine:
                assert torch.equal(mine[name][1], theirs[name][1])
                assert torch.equal(mine[name][0], theirs[name][0])
    same = [n for n in base[0] if n in base[1]]
    changed = [not torch.equal(base[0][n][1], base[1][n][1]) for n in same]
    assert len(same) == 35 and sum(changed) > 30  # fresh masks each epoch


def test_val_is_sharded_across_ranks_with_rank_independent_masks():
    from lightning_fabric.utilities.data import _replace_dunder_methods
    from pytorch_lightning.utilities.data import _update_dataloader

    dm = _module(SampleSource(), IrregularMask("thin"), size=48, batch_size=2)
    dm.setup("fit")
    with _replace_dunder_methods(DataLoader, "dataset"):  # what Lightning does around hooks
        loader = dm.val_dataloader()
    single = _by_name(loader)
    shards = []
    for rank in (0, 1):
        sampler = DistributedSampler(loader.dataset, num_replicas=2, rank=rank, shuffle=False)
        sharded = _update_dataloader(loader, sampler)
        assert isinstance(sharded, ReportingDataLoader) and sharded.label == "val"
        shards.append(_by_name(sharded))
    assert shards[0].keys().isdisjoint(shards[1].keys())
    assert shards[0].keys() | shards[1].keys() == single.keys()
    for shard in shards:
        for name, (_, m) in shard.items():
            assert torch.equal(m, single[name][1])
    with _replace_dunder_methods(DataLoader, "dataset"):
        train = dm.train_dataloader()
    sampler = DistributedSampler(train.dataset, num_replicas=2, rank=1, seed=0)
    sharded = _update_dataloader(train, sampler)
    assert isinstance(sharded, ReportingDataLoader) and sharded.epoch_fn is not None
    assert sum(len(b["name"]) for b in sharded) == 18  # 35 padded to 36, half per rank


class _Probe(pl.LightningModule):
    """Records what the trainer feeds it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)
        self.epochs: list[int] = []
        self.dtypes: list[tuple[torch.dtype, torch.dtype]] = []

    def training_step(self, batch, _):
        assert set(batch) == {"image", "mask", "name"}
        self.epochs.append(int(self.trainer.datamodule.datasets["train"]._epoch.item()))
        self.dtypes.append((batch["image"].dtype, batch["mask"].dtype))
        return (self.conv(batch["image"]) * batch["mask"]).mean()

    def validation_step(self, batch, _):
        assert set(batch) == {"image", "mask", "name"}
        self.dtypes.append((batch["image"].dtype, batch["mask"].dtype))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_trainer_fit_uses_trainer_epoch(tmp_path):
    dm = _module(SampleSource(), CenterMask(), batch_size=4)
    probe = _Probe()
    trainer = pl.Trainer(
        max_epochs=2,
        limit_train_batches=2,
        limit_val_batches=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(probe, datamodule=dm)
    assert probe.epochs == [0, 0, 1, 1]
    # the data module's on_after_batch_transfer hands the model floats, train and val
    assert len(probe.dtypes) >= 5 and set(probe.dtypes) == {(torch.float32, torch.float32)}


# --------------------------------------------------------------------------- broken files


@pytest.fixture
def broken_tree(tmp_path) -> Path:
    """One file of every awkward kind; only the first two are unusable."""
    root = tmp_path / "messy"
    noise = np.random.default_rng(0).integers(0, 256, (40, 48, 3), np.uint8)
    _photo(root / "a_truncated.jpg")
    (root / "a_truncated.jpg").write_bytes((root / "a_truncated.jpg").read_bytes()[:500])
    (root / "b_random.jpg").write_bytes(np.random.default_rng(1).bytes(700))
    (root / "notes.txt").write_text("not an image")
    cv2.imwrite(str(root / "c_deep16.png"), (noise[..., 0].astype(np.uint16) * 257))
    Image.fromarray(noise).convert("CMYK").save(root / "d_cmyk.jpg")
    Image.fromarray(noise).convert("P").save(root / "e_palette.png")
    Image.fromarray(noise).convert("RGBA").save(root / "f_rgba.png")
    Image.fromarray(noise).convert("L").save(root / "g_grey.jpg")
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(noise).save(root / "h_rotated.jpg", exif=exif)
    _photo(root / "i_tiny.png", (9, 7))
    _photo(root / "j_plain.jpg")
    return root


@pytest.mark.parametrize("workers", [0, 2])
def test_broken_files_are_skipped_named_and_counted(broken_tree, workers, caplog):
    with caplog.at_level(logging.INFO, logger="inpaintgan"):
        source = FolderSource(broken_tree, split="fraction", val_fraction=0.3, seed=0)
        assert len(source.paths("all")) == 10  # notes.txt left out of the list...
    assert "notes.txt" in caplog.text  # ...with a log line naming it
    dm = _module(source, IrregularMask("thin"), num_workers=workers, batch_size=3)
    loader = dm.loader("all")
    with caplog.at_level(logging.INFO, logger="inpaintgan"):
        names = [n for batch in loader for n in (_check_batch(batch) or batch["name"])]
        second = [n for batch in loader for n in batch["name"]]
    assert len(names) == 10 and names == second
    assert "a_truncated" not in names and "b_random" not in names
    assert loader.last_report.upscaled == 1
    assert len(loader.last_report.skipped) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    named = [w for w in warnings if "skipped" in w and ("a_truncated" in w or "b_random" in w)]
    assert len(named) == 2  # each broken file named once, not once per pass
    assert sum("2 unreadable file(s) skipped" in w for w in warnings) == 2  # a count per pass
    assert any("1 image(s) smaller than the 32 px crop" in r.getMessage() for r in caplog.records)

    dm.setup("fit")
    for batch in dm.train_dataloader():
        _check_batch(batch)


def test_all_broken_gives_a_clear_error(tmp_path):
    for i in range(20):
        (tmp_path / f"bad{i}.jpg").write_bytes(b"junk")
    dataset = InpaintingDataset(FolderSource(tmp_path).paths("all"), SIZE, CenterMask(), False)
    with pytest.raises(DataError, match="unreadable files in a row"):
        dataset[0]


def test_broken_mask_files_are_skipped(tmp_path, caplog):
    from inpaintgan.data.masks import FolderMask

    masks = tmp_path / "masks"
    masks.mkdir()
    Image.new("L", (64, 64), 255).save(masks / "full.png")
    (masks / "broken.png").write_bytes(b"\x89PNG broken")
    (masks / "x_ok.png").write_bytes((masks / "full.png").read_bytes())
    dm = _module(SampleSource(), FolderMask(masks), batch_size=8)
    loader = dm.loader("all")
    with caplog.at_level(logging.WARNING, logger="inpaintgan"):
        for batch in loader:
            assert batch["mask"].all()
    assert loader.last_report.skipped and "broken.png" in caplog.text


def test_report_key_never_reaches_the_batch():
    dm = _module(SampleSource())
    dm.setup("fit")
    assert REPORT_KEY not in next(iter(dm.train_dataloader()))


def test_benchmark_loader_runs():
    result = benchmark_loader(num_workers=0, batch_size=4, size=32, num_batches=3)
    assert result.samples == 12 and result.samples_per_s > 0
    assert set(result.as_dict()) >= {"num_workers", "samples_per_s"}


# --------------------------------------------------------------------------- uint8 batches


def _old_float(batch: dict) -> dict:
    """The float32 batch the datasets used to emit: numpy uint8 → float32, times 1/255."""
    image = batch["image"].numpy().astype(np.float32)
    return {
        "image": torch.from_numpy(np.multiply(image, 1 / 255, out=image)),
        "mask": torch.from_numpy(batch["mask"].numpy().astype(np.float32)),
    }


def test_uint8_batches_are_4x_smaller_and_normalise_to_the_old_floats_exactly():
    dm = _module(SampleSource(), MixedMask([IrregularMask("medium"), RectMask()]), size=64)
    dm.setup("fit")
    for batch in (next(iter(dm.train_dataloader())), next(iter(dm.val_dataloader()))):
        old = _old_float(batch)
        compact = batch["image"].nbytes + batch["mask"].nbytes
        assert old["image"].nbytes + old["mask"].nbytes == 4 * compact
        new = to_float_batch(batch)
        assert new["name"] == batch["name"]
        for key in ("image", "mask"):
            assert new[key].dtype == torch.float32 and torch.equal(new[key], old[key])
        assert to_float_batch(new)["image"] is new["image"]  # idempotent: floats pass through
    # every 8-bit value, bit for bit against numpy's float32 multiply
    levels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 1, 256).expand(1, 3, 1, 256)
    expected = np.arange(256, dtype=np.float32) * np.float32(1 / 255)
    assert np.array_equal(image_to_float(levels)[0, 0, 0].numpy(), expected)
    with pytest.raises(TypeError, match="uint8"):
        image_to_float(torch.zeros(1, 3, 2, 2, dtype=torch.int32))


def test_masks_are_the_generators_masks():
    mask = IrregularMask("thin")
    dataset = InpaintingDataset(SampleSource().paths("val"), 64, mask, train=False, seed=3)
    for i in range(len(dataset)):
        expected = mask(64, 64, dataset.rng(i))
        assert dataset[i]["mask"].dtype == torch.bool
        assert np.array_equal(dataset[i]["mask"][0].numpy().astype(np.float32), expected)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_to_float_batch_on_cuda_equals_the_cpu_floats():
    dm = _module(SampleSource(), RectMask(), size=64, batch_size=6)
    batch = next(iter(dm.loader("val")))
    on_device = to_float_batch(batch, "cuda")
    cpu = to_float_batch(batch)
    assert on_device["image"].is_cuda and on_device["mask"].dtype == torch.float32
    assert torch.equal(on_device["image"].cpu(), cpu["image"])
    assert torch.equal(on_device["mask"].cpu(), cpu["mask"])


# --------------------------------------------------------------------------- val subset


def test_evenly_spread_subset():
    assert evenly_spread(10, 4) == [0, 2, 5, 7]
    assert (
        evenly_spread(36_500, 2000)[:3] == [0, 18, 36] and len(evenly_spread(36_500, 2000)) == 2000
    )
    assert evenly_spread(5, 5) is None and evenly_spread(5, 9) is None  # whole split


def test_val_subset_serves_the_full_pass_pairs_and_test_stays_whole():
    mask = MixedMask([IrregularMask("medium"), RectMask()])
    full = _module(SampleSource(), mask, size=48, batch_size=2)
    part = _module(SampleSource(), mask, size=48, batch_size=2, val_subset=4)
    full.setup("fit")
    part.setup("fit")
    whole, subset = _by_name(full.val_dataloader()), _by_name(part.val_dataloader())
    assert len(whole) == 6 and len(subset) == 4
    assert list(subset) == [list(whole)[i] for i in evenly_spread(6, 4)]
    for name, (image, hole) in subset.items():  # the very (image, mask) pairs of a full pass
        assert torch.equal(image, whole[name][0]) and torch.equal(hole, whole[name][1])
    assert _by_name(part.val_dataloader()).keys() == subset.keys()  # frozen across passes
    part.setup("test")
    assert len(part.dataset("test")) == 6
    _one_line_error(lambda: _module(SampleSource(), val_subset=0), "data.val_subset")


def test_val_subset_from_the_config():
    cfg = OmegaConf.load(CONF / "sample.yaml")
    assert cfg.val_subset is None
    cfg.num_workers, cfg.val_subset = 0, 3
    dm = instantiate(cfg, mask=CenterMask(), seed=0)
    dm.setup("validate")
    assert len(dm.dataset("val")) == 3


def _train_paths(module: InpaintingDataModule) -> list[Path]:
    dataset = module.dataset("train")
    return [dataset.path(i) for i in range(len(dataset))]


def test_train_subset_trains_on_an_evenly_spread_part_and_leaves_eval_whole():
    full = _module(SampleSource(), size=48, batch_size=2)
    half = _module(SampleSource(), size=48, batch_size=2, train_subset=17)
    full.setup("fit")
    half.setup("fit")
    every, part = _train_paths(full), _train_paths(half)
    assert len(every) == 35 and len(part) == 17
    assert part == [every[i] for i in evenly_spread(35, 17)]
    drawn = {name for batch in half.train_dataloader() for name in batch["name"]}
    assert len(drawn) == 16  # drop_last: 8 batches of 2 from the 17 photos, none from the rest
    assert drawn < {p.stem for p in part}
    assert len(half.dataset("val")) == len(full.dataset("val")) == 6  # val untouched
    same = _module(SampleSource(), size=48, batch_size=2, train_subset=35)
    same.setup("fit")
    assert _train_paths(same) == every  # the whole list: all of it
    _one_line_error(lambda: _module(SampleSource(), train_subset=0), "data.train_subset")
    too_many = _module(SampleSource(), train_subset=36)
    _one_line_error(lambda: too_many.setup("fit"), "data.train_subset=36", "only 35")


def test_train_subset_from_the_config():
    for name in ("folder", "sample", "celeba", "places2"):  # every data config has the key
        assert OmegaConf.load(CONF / f"{name}.yaml").train_subset is None, name
    cfg = OmegaConf.load(CONF / "sample.yaml")
    cfg.num_workers, cfg.train_subset = 0, 5
    dm = instantiate(cfg, mask=CenterMask(), seed=0)
    dm.setup("fit")
    assert len(dm.dataset("train")) == 5 and len(dm.dataset("val")) == 6


# --------------------------------------------------------------------------- Places365 scale


def _places_train(root: Path, variant: str, folder: str, categories=("a/airfield", "b/bakery")):
    """A training list of 3 images per category (challenge: 2 more each) and its images."""
    lines = []
    count = 5 if variant == "challenge" else 3
    for c, category in enumerate(categories):
        for i in range(1, count + 1):
            rel = f"/{category}/{i:08d}.jpg"
            _photo(root / folder / rel.lstrip("/"), (40, 40), seed=10 * c + i)
            lines.append(f"{rel} {c}")
    (root / f"places365_train_{variant}.txt").write_text("\n".join(lines) + "\n")


def _places_val(root: Path, folder: str = "val_256", n: int = 3) -> None:
    lines = [f"Places365_val_{i:08d}.jpg {i}" for i in range(1, n + 1)]
    for i, line in enumerate(lines):
        _photo(root / folder / line.split()[0], (40, 40), seed=50 + i)
    (root / "places365_val.txt").write_text("\n".join(lines) + "\n")


def test_places_challenge_variant_and_torchvision_layout(tmp_path):
    root = tmp_path / "p365"
    _places_train(root, "challenge", "data_256_challenge")  # torchvision's challenge folder
    _places_val(root)
    source = Places2Source(root)  # only the challenge list: taken without a warning
    assert len(source.paths("train")) == 10
    assert source.paths("train")[0].parent.parent.parent.name == "data_256_challenge"
    _places_train(root, "standard", "data_256_standard")
    standard = Places2Source(root, variant="standard").paths("train")
    assert len(standard) == 6 and "data_256_standard" in str(standard[0])
    assert len(Places2Source(root, variant="challenge").paths("train")) == 10


def test_places_both_lists_warn_once_and_explicit_variant_is_silent(tmp_path, recwarn):
    root = tmp_path / "p365"
    _places_train(root, "challenge", "data_256")  # official archives: both extract to data_256/
    _places_train(root, "standard", "data_256")
    _places_val(root)
    with pytest.warns(UserWarning, match="places365_train_challenge.txt") as caught:
        source = Places2Source(root)
        assert len(source.paths("train")) == 6  # the standard list, as before
        source.paths("val")
    messages = [str(w.message) for w in caught if "Places365" in str(w.message)]
    assert len(messages) == 1 and "\n" not in messages[0] and "data.variant=" in messages[0]
    recwarn.clear()
    for variant, n in (("standard", 6), ("challenge", 10)):
        assert len(Places2Source(root, variant=variant).paths("train")) == n
    assert not [w for w in recwarn if "Places365" in str(w.message)]


def test_places_resolution_is_one_choice_for_every_split(tmp_path):
    root = tmp_path / "p365"
    _places_train(root, "standard", "data_large")
    _places_val(root, "val_large")
    _places_val(root, "val_256")  # a stray 256² val folder used to be picked for val
    with pytest.warns(UserWarning, match="data.resolution="):
        source = Places2Source(root)
        _one_line_error(lambda: source.paths("train"), "data_256", "data.resolution=small")
    large = Places2Source(root, resolution="large")
    assert "data_large" in str(large.paths("train")[0]) and "val_large" in str(
        large.paths("val")[0]
    )
    (root / "val_large").rename(root / "elsewhere")
    _one_line_error(
        lambda: Places2Source(root, resolution="large").paths("val"),
        "val_large/",
        "data.resolution=large",
    )


def test_places_chosen_layout_missing_is_one_line(tmp_path):
    root = tmp_path / "p365"
    _places_train(root, "standard", "data_256")
    _places_val(root)
    _one_line_error(
        lambda: Places2Source(root, variant="challenge").paths("train"),
        "places365_train_challenge.txt",
        "not found",
    )
    # a Challenge list over the Standard images: its first entries exist, most do not
    lines = [f"/a/airfield/{i:08d}.jpg 0" for i in range(1, 41)]
    (root / "places365_train_challenge.txt").write_text("\n".join(lines) + "\n")
    _one_line_error(
        lambda: Places2Source(root, variant="challenge").paths("train"),
        "entries sampled across",
        "places365_train_challenge.txt",
    )
    folders = tmp_path / "easy"
    _photo(folders / "train" / "a" / "1.jpg")
    _photo(folders / "val" / "a" / "2.jpg")
    assert len(Places2Source(folders).paths("train")) == 1
    _one_line_error(lambda: Places2Source(folders, variant="standard").paths("train"), "variant")
    with pytest.raises(ValueError, match="data.variant"):
        Places2Source(root, variant="huge")
    with pytest.raises(ValueError, match="data.resolution"):
        Places2Source(root, resolution="256")


def test_places_config_passes_variant_and_resolution(tmp_path):
    root = tmp_path / "p365"
    _places_train(root, "challenge", "data_large_challenge")
    _places_val(root, "val_large")
    cfg = OmegaConf.load(CONF / "places2.yaml")
    cfg.root, cfg.variant, cfg.resolution = str(root), "challenge", "large"
    cfg.num_workers, cfg.size, cfg.batch_size = 0, SIZE, 2
    dm = instantiate(cfg, mask=CenterMask(), seed=0)
    assert (dm.source.variant, dm.source.resolution) == ("challenge", "large")
    dm.setup("fit")
    assert len(dm.dataset("train")) == 10 and len(dm.dataset("val")) == 3
    _check_batch(next(iter(dm.train_dataloader())))


@pytest.mark.parametrize(
    "relative",
    [
        ["a/x.jpg", "b/y.jpg", "c/z.jpg"],  # stems unique: depth 1
        ["a/cat/1.jpg", "b/dog/1.jpg", "b/dog/2.jpg"],  # stems repeat: depth 2
        ["k/x.jpg", "k/x.png", "k/y.jpg"],  # same stem, two extensions: not unique at all
        ["1.jpg", "d/1.jpg"],  # a shallower entry: the common folder completes its parts
        ["1.jpg", "FOLDER/1.jpg"],  # ... and can collide with a sub-folder of the same name
    ],
)
def test_path_list_is_a_list_of_paths_kept_as_bytes(tmp_path: Path, relative: list[str]) -> None:
    tmp_path = tmp_path / "FOLDER"
    listed = PathList(tmp_path, np.array([r.encode() for r in relative]))
    as_paths = [tmp_path / r for r in relative]
    assert len(listed) == len(as_paths) and listed == as_paths and list(listed) == as_paths
    assert listed[1] == as_paths[1] and listed[:2] == as_paths[:2]
    assert listed + as_paths[:1] == as_paths + as_paths[:1]
    assert listed.name_depth() == name_depth(as_paths)
    for path in as_paths:
        _photo(path)
    # The dataset built from the bytes equals the one built from Path objects, sample names
    # and file order included.
    subset = [len(relative) - 1, 0]
    fast = InpaintingDataset(listed, SIZE, CenterMask(), train=False, subset=subset)
    slow = InpaintingDataset(as_paths, SIZE, CenterMask(), train=False, subset=subset)
    assert [fast.path(i) for i in range(2)] == [slow.path(i) for i in range(2)]
    for i in range(2):
        a, b = fast[i], slow[i]
        assert a["name"] == b["name"] and torch.equal(a["image"], b["image"])


def test_places_lists_are_read_into_a_path_list(places_lists: Path) -> None:
    train = Places2Source(places_lists).paths("train")
    assert isinstance(train, PathList) and all(p.is_file() for p in train)
