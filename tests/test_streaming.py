"""data.format=litdata: `inpaintgan.prepare` writes LitData chunks, the data module streams
them (issue 27). Tiny images made in tmp folders; nothing needs the network."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintgan.data.datamodule import InpaintingDataModule
from inpaintgan.data.datasets import FolderSource
from inpaintgan.data.masks import CenterMask, IrregularMask
from inpaintgan.errors import DataError, UsageError

litdata = pytest.importorskip("litdata")

from inpaintgan.data.shards import MARKER, write_shards  # noqa: E402
from inpaintgan.data.streaming import (  # noqa: E402
    StreamingInpaintingDataset,
    split_location,
)

SIZE = 32
LIGHT_IMPORT = "import inpaintgan, inpaintgan.data, sys; print('litdata' in sys.modules)"


def make_photos(root: Path, train: int = 11, val: int = 5) -> Path:
    """JPEG and PNG photos of several sizes under root/train and root/val."""
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("val", val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            height, width = (40 + 4 * (i % 3), 36 + 6 * (i % 4))
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            suffix = ".png" if i % 3 == 0 else ".jpg"
            Image.fromarray(pixels).save(root / split / f"{split}_{i:02d}{suffix}")
    return root


def prepare(root: Path, out: Path, **kwargs) -> Path:
    write_shards(FolderSource(root), out, root=str(root), workers=1, progress=False, **kwargs)
    return out


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("streaming")
    root = make_photos(base / "photos")
    return root, prepare(root, base / "shards")


def datamodule(root: str | Path, fmt: str, **kwargs) -> InpaintingDataModule:
    options = {
        "size": SIZE,
        "batch_size": 3,
        "num_workers": 0,
        "seed": 5,
        "mask": IrregularMask(),
        "eval_mask": CenterMask(),
        "load_size": 40,
        "drop_last": False,
        **kwargs,
    }
    return InpaintingDataModule(
        FolderSource(root) if fmt == "files" else None, format=fmt, root=str(root), **options
    )


def stream(out: Path, split: str, **kwargs) -> StreamingInpaintingDataset:
    return StreamingInpaintingDataset(str(out / split), SIZE, IrregularMask(), seed=5, **kwargs)


def test_prepare_then_stream_gives_back_every_image_byte_identical_once_per_epoch(
    prepared: tuple[Path, Path],
) -> None:
    root, out = prepared
    for split in ("train", "val"):
        files = FolderSource(root).paths(split)
        raw = litdata.StreamingDataset(str(out / split), shuffle=True, seed=3)
        for _epoch in range(2):
            records = list(raw)
            assert sorted(int(r["index"]) for r in records) == list(range(len(files)))
            for record in records:
                path = files[int(record["index"])]
                assert bytes(record["image"]) == path.read_bytes()
                assert record["source"] == str(path.relative_to(root))
                assert (record["width"], record["height"]) == Image.open(path).size
        # in list order: position i of the stream is file i (val_subset picks the same files)
        assert [int(raw[i]["index"]) for i in range(len(files))] == list(range(len(files)))
    marker = json.loads((out / MARKER).read_text())
    assert marker["done"] == {"train": 11, "val": 5}


def test_streamed_samples_are_the_file_loaders_samples(prepared: tuple[Path, Path]) -> None:
    root, out = prepared
    files = datamodule(root, "files", val_subset=3)
    shards = datamodule(out, "litdata", val_subset=3)
    for split in ("val", "test"):
        a, b = list(files.loader(split)), list(shards.loader(split))
        assert [x["name"] for x in a] == [y["name"] for y in b] and len(a) >= 1
        for x, y in zip(a, b, strict=True):
            assert x["image"].dtype == y["image"].dtype == torch.uint8
            assert y["mask"].dtype == torch.bool
            assert torch.equal(x["image"], y["image"]) and torch.equal(x["mask"], y["mask"])
    # training: the same crop, scale jitter, flip and mask for each image, epoch by epoch
    reference = files.dataset("train")
    by_name = {reference[i]["name"]: i for i in range(len(reference))}
    loader = shards.loader("train")
    for epoch in range(2):
        reference.set_epoch(epoch)
        seen = []
        for batch in loader:
            for name, image, mask in zip(batch["name"], batch["image"], batch["mask"], strict=True):
                expected = reference[by_name[name]]
                assert torch.equal(image, expected["image"]), (epoch, name)
                assert torch.equal(mask, expected["mask"]), (epoch, name)
                seen.append(name)
        assert sorted(seen) == sorted(by_name)
    # drop_last (the default) drops a short batch, as the file loader does
    sizes = [len(b["name"]) for b in datamodule(out, "litdata", drop_last=True).loader("train")]
    assert sizes == [3, 3, 3]


def test_two_ranks_see_disjoint_parts_whose_union_is_the_whole_split(
    prepared: tuple[Path, Path],
) -> None:
    from litdata.utilities.env import _DistributedEnv

    _, out = prepared
    parts = []
    for rank in range(2):
        dataset = stream(out, "train", drop_last=False)
        dataset.distributed_env = _DistributedEnv(world_size=2, global_rank=rank, num_nodes=1)
        parts.append([sample["name"] for sample in dataset])
    assert parts[0] and parts[1] and not set(parts[0]) & set(parts[1])
    assert sorted(parts[0] + parts[1]) == sorted(f"train_{i:02d}" for i in range(11))
    # LitData's default under DDP (drop_last when torch.distributed is up) evens the counts
    even = []
    for rank in range(2):
        dataset = stream(out, "train", drop_last=True)
        dataset.distributed_env = _DistributedEnv(world_size=2, global_rank=rank, num_nodes=1)
        even.append([sample["name"] for sample in dataset])
    assert len(even[0]) == len(even[1]) == 5 and not set(even[0]) & set(even[1])


@pytest.mark.parametrize("workers", [0, 1])
def test_mid_epoch_resume_gives_the_batches_of_an_uninterrupted_run(
    prepared: tuple[Path, Path], workers: int
) -> None:
    _, out = prepared

    def run(loader, batches: int | None = None) -> list[tuple[list[str], torch.Tensor]]:
        got = []
        for batch in loader:
            got.append((batch["name"], batch["image"].clone(), batch["mask"].clone()))
            if batches is not None and len(got) == batches:
                break
        return got

    full_loader = datamodule(out, "litdata", num_workers=workers, batch_size=2).loader("train")
    full = run(full_loader) + run(full_loader)  # two epochs
    first = datamodule(out, "litdata", num_workers=workers, batch_size=2).loader("train")
    head = run(first, 2)
    state = first.state_dict()
    resumed = datamodule(out, "litdata", num_workers=workers, batch_size=2).loader("train")
    resumed.load_state_dict(state)
    tail = run(resumed) + run(resumed)
    got = head + tail
    assert [names for names, _, _ in got] == [names for names, _, _ in full]
    for (_, image, mask), (_, image_full, mask_full) in zip(got, full, strict=True):
        assert torch.equal(image, image_full) and torch.equal(mask, mask_full)


def test_a_corrupt_record_is_skipped_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_photos(tmp_path / "photos", train=6, val=2)
    (root / "train" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg at all" * 3)
    out = prepare(root, tmp_path / "shards")
    loader = datamodule(out, "litdata", batch_size=7).loader("train")
    with caplog.at_level(logging.WARNING):
        names = [name for batch in loader for name in batch["name"]]
    assert sorted(names) == [f"train_{i:02d}" for i in range(6)]
    (reason,) = loader.last_report.skipped
    assert reason.startswith("train/broken.jpg: ") and "\n" not in reason
    assert "skipped train/broken.jpg" in caplog.text


def test_a_missing_or_partial_chunk_folder_is_one_line(
    prepared: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = prepared
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    chunk = sorted((copy / "train").glob("chunk-*.bin"))[0]
    chunk.write_bytes(chunk.read_bytes()[:100])
    with pytest.raises(DataError, match="partial") as partial:
        datamodule(copy, "litdata").setup("fit")
    chunk.unlink()
    with pytest.raises(DataError, match="is missing") as missing:
        datamodule(copy, "litdata").setup("fit")
    (copy / "val" / "index.json").unlink()
    with pytest.raises(DataError, match="index.json not found") as no_index:
        datamodule(copy, "litdata").setup("validate")
    with pytest.raises(DataError, match="does not exist") as no_root:
        datamodule(tmp_path / "nowhere", "litdata").setup("fit")
    for err in (partial, missing, no_index, no_root):
        assert (
            "\n" not in str(err.value)
            and str(chunk.parent.parent.name) in str(err.value)
            or (err is no_root)
        )


def test_an_object_store_url_streams_and_an_unreachable_one_is_one_line(
    prepared: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import litdata.utilities.dataset_utilities as utilities

    monkeypatch.setattr(utilities, "_LITDATA_CACHE_DIR", str(tmp_path / "cache"))
    root, out = prepared
    files = list(datamodule(root, "files").loader("val"))
    remote = list(datamodule(f"local:{out}", "litdata").loader("val"))
    assert [b["name"] for b in remote] == [b["name"] for b in files]
    assert all(torch.equal(a["image"], b["image"]) for a, b in zip(files, remote, strict=True))
    assert split_location("s3://bucket/places2", "train") == "s3://bucket/places2/train"
    with pytest.raises(DataError) as unreachable:
        datamodule(f"local:{tmp_path / 'gone'}", "litdata").setup("fit")
    assert "\n" not in str(unreachable.value) and "gone" in str(unreachable.value)


def test_prepare_refuses_a_non_empty_out_resumes_and_overwrites(tmp_path: Path) -> None:
    root = make_photos(tmp_path / "photos", train=4, val=2)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        prepare(root, tmp_path / "busy")
    with pytest.raises(UsageError, match="overlaps data.root"):
        prepare(root, root / "shards", overwrite=True)
    out = prepare(root, tmp_path / "shards")
    # an interruption after train: the rerun writes val only
    shutil.rmtree(out / "val")
    marker = json.loads((out / MARKER).read_text())
    del marker["done"]["val"]
    (out / MARKER).write_text(json.dumps(marker))
    result = write_shards(FolderSource(root), out, root=str(root), workers=1, progress=False)
    assert result.skipped == ["train"] and result.counts == {"train": 4, "val": 2}
    with pytest.raises(UsageError, match="another source or settings"):
        prepare(root, out, chunk_bytes="1MB")
    result = write_shards(
        FolderSource(root), out, root=str(root), workers=1, progress=False, overwrite=True
    )
    assert result.skipped == [] and (out / "val" / "index.json").is_file()


def test_prepare_command_and_a_light_import(tmp_path: Path) -> None:
    from helpers import run_cli

    root = make_photos(tmp_path / "photos", train=3, val=2)
    args = ("data=folder", f"data.root={root}", f"out={tmp_path / 'shards'}", "workers=1")
    done = run_cli("inpaintgan.prepare", *args, "progress=false", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrote" in done.stdout and "train 3, val 2 records" in done.stdout
    refused = run_cli("inpaintgan.prepare", *args, "workers=2", timeout=300)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1].startswith("inpaintgan.prepare: error: out=")
    light = subprocess.run(
        [sys.executable, "-c", LIGHT_IMPORT],
        capture_output=True,
        text=True,
        check=True,
    )
    assert light.stdout.split()[-1] == "False"


@pytest.mark.slow
def test_training_resume_from_a_litdata_run_continues_like_an_uninterrupted_run(
    prepared: tuple[Path, Path], tmp_path: Path
) -> None:
    """test_train.py's resume test with data.format=litdata: the loader's state is in the
    checkpoint and the second epoch streams the second pass (order, crops, masks)."""
    import csv

    from helpers import TINY, compose_train

    from inpaintgan.checkpoints import read_checkpoint
    from inpaintgan.train import train

    _, out = prepared

    def losses(run: Path) -> list[float]:
        with open(run / "csv" / "metrics.csv") as handle:
            return [float(r["train/g_total"]) for r in csv.DictReader(handle) if r["train/g_total"]]

    common = [
        *TINY,
        "data=folder",
        "data.format=litdata",
        f"data.root={out}",
        "trainer.log_every_n_steps=1",
        "trainer.limit_train_batches=null",
        "trainer.limit_val_batches=0",
        "data.batch_size=4",
    ]
    train(compose_train([*common, "trainer.max_epochs=2"], tmp_path / "full"))
    train(compose_train([*common, "trainer.max_epochs=1"], tmp_path / "first"))
    ckpt = tmp_path / "first" / "checkpoints" / "last.ckpt"
    (state,) = read_checkpoint(ckpt)["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert state["current_epoch"] == 1 and state["num_samples_yielded"] == 12  # 3 batches of 4
    train(
        compose_train([*common, "trainer.max_epochs=2", f"ckpt_path={ckpt}"], tmp_path / "resumed")
    )
    first = losses(tmp_path / "first")
    expected = losses(tmp_path / "full")[len(first) :]
    assert len(expected) == len(first) == 2  # drop_last: 11 images make 2 batches of 4
    assert losses(tmp_path / "resumed") == pytest.approx(expected, rel=1e-5, abs=1e-7)


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_streams_and_finishes(
    prepared: tuple[Path, Path], tmp_path: Path
) -> None:
    """Two real DDP ranks (trainer=ddp_cpu): each streams its part (the dataset is built in
    setup, before the process group exists, and follows the world when iterated)."""
    import csv

    from helpers import TINY, run_cli

    _, out = prepared
    result = run_cli(
        "inpaintgan.train",
        *[o for o in TINY if not o.startswith("trainer.limit_train_batches")],
        "data=folder",
        "data.format=litdata",
        f"data.root={out}",
        "trainer=ddp_cpu",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=null",
        "trainer.log_every_n_steps=1",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run" / "csv" / "metrics.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("train/g_total")]
    assert len(rows) == 4  # 11 records: 5 per rank (drop_last), 2 full batches of 2, 2 epochs
