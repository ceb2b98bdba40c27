"""Safe by construction (issue 21): a file never runs code, writers never replace what they
did not create, no number comes from nothing, every mistake is one line. docs/reliability.md
lists each case with its test."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import (
    TINY,
    TINY_GENERATOR,
    box_mask,
    compose_config,
    compose_evaluate,
    compose_predict,
    compose_train,
    make_tiny_checkpoint,
    noise_photo,
    run_cli,
)
from PIL import Image

from inpaintgan.checkpoints import (
    build_generator,
    check_generator_config,
    checkpoint_metadata,
    load_generator,
)
from inpaintgan.errors import CheckpointError, UserError
from inpaintgan.inpainter import load_inpainter


def _mask(path: Path, size: int = 40, hole: bool = True) -> Path:
    box = (size // 4, size // 4, size // 2, size // 2) if hole else (0, 0, 0, 0)
    Image.fromarray(box_mask(size, size, box)).save(path)
    return path


def _hostile_checkpoint(path: Path, generator: dict[str, Any]) -> Path:
    """An exported-generator file whose config names ``generator`` (weights of the tiny one)."""
    tiny = make_tiny_checkpoint(path.with_name("tiny_source.pt"))
    state = torch.load(tiny, weights_only=True)["generator"]
    config = {"model": {"name": "paper", "generator": generator}, "data": {"size": 128}}
    torch.save({"inpaintgan": checkpoint_metadata(config), "generator": state}, path)
    return path


# ------------------------------------------------ 1. a checkpoint never runs code on load
HOSTILE = {
    "open": lambda victim: {"_target_": "builtins.open", "_args_": [str(victim), "w"]},
    "known class, extra _args_": lambda victim: {**TINY_GENERATOR, "_args_": [str(victim)]},
    "known class, unknown argument": lambda victim: {**TINY_GENERATOR, "path": str(victim)},
    "nested target": lambda victim: {
        **TINY_GENERATOR,
        "se_block": {"_target_": "builtins.open", "_args_": [str(victim), "w"]},
    },
    "nested unknown argument": lambda victim: {
        **TINY_GENERATOR,
        "se_block": {
            "_target_": "inpaintgan.models.se_block.ImprovedSEBlock",
            "_partial_": True,
            "file": str(victim),
        },
    },
    "config in a plain argument": lambda victim: {
        **TINY_GENERATOR,
        "norm": {"_target_": "builtins.open", "_args_": [str(victim), "w"]},
    },
    "recursive flag": lambda victim: {**TINY_GENERATOR, "_recursive_": False},
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_checkpoint_naming_other_code_is_refused_before_anything_runs(
    tmp_path: Path, kind: str
) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    ckpt = _hostile_checkpoint(tmp_path / "evil.pt", HOSTILE[kind](victim))
    with pytest.raises(CheckpointError) as caught:
        load_generator(ckpt)
    message = str(caught.value)
    assert "\n" not in message and str(ckpt) in message and "refused" in message
    assert victim.read_text() == "keep me"
    with pytest.raises(CheckpointError):  # the Python API shares the path
        load_inpainter(ckpt, device="cpu")
    assert victim.read_text() == "keep me"


def test_the_allow_list_rebuilds_the_package_generators(tmp_path: Path) -> None:
    generator, config = load_generator(make_tiny_checkpoint(tmp_path / "tiny.pt"))
    assert type(generator).__name__ == "UNetGenerator" and config.model.name == "paper"
    se = {
        **TINY_GENERATOR,
        "se_levels": [2],
        "se_block": {
            "_target_": "inpaintgan.models.se_block.ImprovedSEBlock",
            "_partial_": True,
            "reduction": 4,
        },
    }
    built = build_generator({"model": {"generator": se}}, "x.pt")
    assert any(type(m).__name__ == "ImprovedSEBlock" for m in built.modules())
    ce = {"_target_": "inpaintgan.models.context_encoder.ContextEncoder", "image_size": 64}
    assert type(build_generator({"model": {"generator": ce}}, "x.pt")).__name__ == "ContextEncoder"


def test_predict_cli_with_a_hostile_checkpoint_leaves_the_file_and_exits_in_one_line(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    ckpt = _hostile_checkpoint(tmp_path / "evil.ckpt", HOSTILE["open"](victim))
    (tmp_path / "in").mkdir()
    photo = noise_photo(tmp_path / "in" / "a.png")
    _mask(tmp_path / "in" / "a_mask.png")
    result = run_cli(
        "inpaintgan.predict", f"ckpt={ckpt}", f"input={photo.parent}", f"output={tmp_path / 'o'}"
    )
    assert result.returncode != 0
    assert victim.read_text() == "keep me"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused" in lines[0] and str(ckpt) in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_an_export_whose_metadata_names_other_code_is_refused(tmp_path: Path) -> None:
    from inpaintgan.exporting import ExportInfo, load_torchscript

    bad = {"model": {"generator": {"_target_": "os.system", "_args_": ["true"]}}}
    with pytest.raises(CheckpointError, match="refused"):
        check_generator_config(bad, "model.onnx")
    path = tmp_path / "hostile.ts"
    info = ExportInfo("paper", 16, None, bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        module = torch.jit.script(torch.nn.Identity())
        torch.jit.save(module, str(path), _extra_files={"inpaintgan.json": info.to_json()})
    with pytest.raises(CheckpointError) as caught:
        load_torchscript(path)
    assert "refused" in str(caught.value) and str(path) in str(caught.value)
    check_generator_config({"model": {"generator": TINY_GENERATOR}}, "model.onnx")
    check_generator_config({}, "model.onnx")  # no config: nothing would be built


def test_a_classical_config_naming_other_code_is_refused(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    cfg = OmegaConf.create(
        {"name": "x", "inpainter": {"_target_": "builtins.open", "_args_": [str(victim), "w"]}}
    )
    with pytest.raises(UserError, match="refused"):
        load_inpainter(None, cfg, "cpu")
    assert victim.read_text() == "keep me"
    telea = OmegaConf.create(
        {"name": "telea", "inpainter": {"_target_": "inpaintgan.classical.ClassicalInpainter"}}
    )
    assert load_inpainter(None, telea, "cpu").name == "telea"


# ---------------------------------------------------------------- 2. writers never overwrite
@pytest.mark.parametrize(
    ("names", "clash"),
    [(["a.jpg", "a.png", "a_jpg.png"], "a_jpg.png"), (["b.jpg", "b.JPG"], "b_jpg.png")],
)
def test_predict_refuses_two_images_with_one_output_name_naming_both(
    tmp_path: Path, names: list[str], clash: str
) -> None:
    from inpaintgan.errors import UsageError
    from inpaintgan.predict import predict

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i, name in enumerate(names):
        noise_photo(src / name, seed=i)
    if len(list(src.iterdir())) < len(names):
        pytest.fail("this file system folds case; the test needs a case-sensitive one")
    args = [f"input={src}", f"output={out}", "model=telea", "mask=center"]
    with pytest.raises(UsageError) as caught:
        predict(compose_predict(args))
    message = str(caught.value)
    assert "\n" not in message and clash in message
    assert sum(str(src / n) in message for n in names) == 2, message
    assert not out.exists() or not any(out.iterdir())


def test_predict_refuses_images_over_max_pixels_before_decoding(tmp_path: Path) -> None:
    from inpaintgan.predict import predict

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    noise_photo(src / "big.png", size=64)
    noise_photo(src / "small.png", size=16)
    args = [f"input={src}", f"output={out}", "model=telea", "mask=center", "max_pixels=1000"]
    assert predict(compose_predict(args)) == (1, 1)
    assert sorted(p.name for p in out.iterdir()) == ["small.png"]


# ------------------------------------------------------------------ 5. the Python API's range
def test_api_refuses_floats_outside_0_1_and_nan_in_one_line() -> None:
    fill = load_inpainter("mean_fill", device="cpu")
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    image = np.random.default_rng(0).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    for bad, words in ((image, "[0, 1]"), (np.full_like(image, np.nan), "NaN")):
        with pytest.raises(UserError) as caught:
            fill(bad, mask)
        assert words in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        fill(torch.from_numpy(image).permute(2, 0, 1), torch.from_numpy(mask))
    with pytest.raises(UserError, match="NaN"):
        fill(image / 255, np.full((16, 16), np.nan, np.float32))
    good = fill(image / 255, mask)  # in range: known pixels come back unchanged
    assert np.allclose(good[~mask], (image / 255)[~mask], atol=1e-6)


def test_api_refuses_images_over_max_pixels() -> None:
    mask = np.zeros((40, 40), bool)
    mask[4:8, 4:8] = True
    image = np.zeros((40, 40, 3), np.uint8)
    with pytest.raises(UserError, match="max_pixels"):
        load_inpainter("mean_fill", device="cpu", max_pixels=1000)(image, mask)
    assert load_inpainter("mean_fill", device="cpu", max_pixels=1600)(image, mask).shape == (
        40,
        40,
        3,
    )


# ------------------------------------------------------------ 6. the demo decodes four formats
@pytest.mark.parametrize("fmt", ["TIFF", "GIF", "ICO", "EPS"])
def test_demo_upload_refuses_other_formats(fmt: str) -> None:
    import io

    from inpaintgan.webdemo.uploads import UploadError, decode_photo

    if fmt == "EPS":  # written by hand: PIL's EPS writer would need Ghostscript
        data = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n"
    else:
        buffer = io.BytesIO()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, format=fmt)
        data = buffer.getvalue()
    with pytest.raises(UploadError, match="PNG, JPEG, WebP or BMP"):
        decode_photo(data, max_pixels=10_000)
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, format="BMP")
    assert decode_photo(buffer.getvalue(), max_pixels=10_000).shape == (8, 8, 3)


def test_export_never_replaces_an_existing_file_unless_asked(tmp_path: Path) -> None:
    from inpaintgan.errors import UsageError
    from inpaintgan.exporting import export_model

    ckpt = make_tiny_checkpoint(tmp_path / "model.ckpt")
    other = tmp_path / "other_run" / "checkpoints" / "last.ckpt"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"another run's checkpoint")
    with pytest.raises(UsageError) as caught:
        export_model(ckpt, other, "weights")
    assert "overwrite=true" in str(caught.value) and str(other) in str(caught.value)
    assert other.read_bytes() == b"another run's checkpoint"
    assert export_model(ckpt, other, "weights", overwrite=True).path == other
    assert torch.load(other, weights_only=True)["generator"]
    with pytest.raises(CheckpointError, match="checkpoint itself"):  # never, even when asked
        export_model(ckpt, ckpt, "weights", overwrite=True)


def test_export_cli_refuses_an_existing_out_in_one_line(tmp_path: Path) -> None:
    ckpt = make_tiny_checkpoint(tmp_path / "model.ckpt")
    taken = tmp_path / "last.ckpt"
    taken.write_bytes(b"keep")
    result = run_cli("inpaintgan.export", f"ckpt={ckpt}", f"out={taken}")
    assert result.returncode == 2 and taken.read_bytes() == b"keep"
    assert len(result.stderr.strip().splitlines()) == 1 and "overwrite=true" in result.stderr


# ------------------------------------------------------------------------------ report
def _metrics_run(folder: Path, name: str = "paper", **fields: Any) -> Path:
    folder.mkdir(parents=True)
    metrics = {"model": name, "name": name, "data": "scenes", "mask": "center", "size": 64,
               "split": "test", "seed": 42, "psnr": 20.0, "ssim": 0.8, **fields}  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "per_image.csv").write_text("name,psnr,ssim\na,20.0,0.8\nb,20.0,0.8\n")
    return folder


def test_report_never_writes_over_its_inputs_or_an_existing_file(tmp_path: Path) -> None:
    from inpaintgan.errors import UsageError
    from inpaintgan.report import report

    run = _metrics_run(tmp_path / "run")
    before = (run / "metrics.json").read_text()
    for out in (run / "metrics.json", run / "per_image.csv"):
        with pytest.raises(UsageError, match="is the input"):
            report([run], out=out, overwrite=True)
    assert (run / "metrics.json").read_text() == before
    photo = noise_photo(tmp_path / "photo.jpg")
    image = photo.read_bytes()
    with pytest.raises(UsageError, match="overwrite=true"):
        report([run], out=photo)
    assert photo.read_bytes() == image
    table = tmp_path / "table.md"
    report([run], out=table)
    assert "| paper |" in table.read_text()
    with pytest.raises(UsageError, match="overwrite=true"):
        report([run], out=table)
    report([run], out=table, overwrite=True)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("size", 128, "size"),
        ("split", "val", "split"),
        ("seed", 7, "mask seed"),
        ("config", {"mask": {"fraction": 0.25}}, "mask"),
    ],
)
def test_report_refuses_to_average_runs_scored_differently(
    tmp_path: Path, field: str, value: Any, named: str
) -> None:
    from inpaintgan.errors import ReportError
    from inpaintgan.report import report

    _metrics_run(tmp_path / "seed0", config={"mask": {"fraction": 0.5}})
    _metrics_run(tmp_path / "seed1", **{"config": {"mask": {"fraction": 0.5}}, field: value})
    with pytest.raises(ReportError) as caught:
        report([tmp_path], published=False)
    message = str(caught.value)
    assert named in message and "seed0" in message and "seed1" in message
    assert "\n" not in message


def test_report_refuses_to_pair_a_center_run_with_an_irregular_one(tmp_path: Path) -> None:
    from inpaintgan.errors import ReportError
    from inpaintgan.report import report

    _metrics_run(tmp_path / "a", "paper", mask="center")
    _metrics_run(tmp_path / "b", "shiftnet", mask="irregular")
    with pytest.raises(ReportError, match=r"differ in mask \(center vs irregular\)"):
        report([tmp_path], published=False, pairs=[["paper", "shiftnet"]])
    _metrics_run(tmp_path / "c", "telea", mask="center", size=128)
    with pytest.raises(ReportError, match="size"):
        report([tmp_path / "a", tmp_path / "c"], published=False, pairs=[["paper", "telea"]])
    _metrics_run(tmp_path / "d", "ns", mask="center")
    assert "paper − ns" in report([tmp_path / "a", tmp_path / "d"], pairs=[["paper", "ns"]])


# ---------------------------------------------------------------------------- evaluate
def _evaluate(overrides: list[str]) -> dict[str, Any]:
    from inpaintgan.evaluate import evaluate

    cfg = compose_evaluate(["model=mean_fill", *overrides])
    return evaluate(cfg, cfg.hydra.runtime.choices)


def _folder_of_photos(root: Path, n: int = 3) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        noise_photo(root / f"p{i}.png", size=40, seed=i)
    return root


def test_evaluate_never_replaces_an_earlier_run_unless_asked(tmp_path: Path) -> None:
    from inpaintgan.errors import UsageError

    out = tmp_path / "eval"
    args = ["data=sample", "data.size=32", "max_images=2", f"out={out}"]
    _evaluate(args)
    first = {name: (out / name).read_bytes() for name in ("metrics.json", "per_image.csv")}
    with pytest.raises(UsageError, match="overwrite=true"):
        _evaluate([*args, "seed=3"])
    assert {name: (out / name).read_bytes() for name in first} == first
    assert _evaluate([*args, "seed=3", "overwrite=true"])["seed"] == 3


def test_evaluate_cli_run_twice_into_one_out_keeps_the_first(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    args = ["model=mean_fill", "device=cpu", "progress=false", "data.size=32", "max_images=2"]
    first = run_cli("inpaintgan.evaluate", *args, f"out={out}")
    assert first.returncode == 0, first.stderr
    saved = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    second = run_cli("inpaintgan.evaluate", *args, "seed=1", f"out={out}")
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "metrics.json" in lines[0] and "overwrite=true" in lines[0]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == saved


def test_evaluate_refuses_hole_free_masks_naming_the_file(tmp_path: Path) -> None:
    root = _folder_of_photos(tmp_path / "photos")
    masks = tmp_path / "masks"
    masks.mkdir()
    _mask(masks / "black.png", hole=False)
    args = ["data=folder", f"data.root={root}", "data.size=32", f"out={tmp_path / 'e'}"]
    with pytest.raises(UserError) as caught:
        _evaluate([*args, "mask=folder", f"mask.root={masks}"])
    assert str(masks / "black.png") in str(caught.value) and "no hole" in str(caught.value)
    assert not (tmp_path / "e" / "metrics.json").exists()
    with pytest.raises(UserError, match="has no hole"):  # any mask config without a hole
        _evaluate([*args, "mask=center", "mask.fraction=0.01"])  # 0 px at 32


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("split=bogus", "split=bogus: must be one of train, val, test, all"),
        ("batch_size=0", "batch_size=0: must be a whole number >= 1"),
        ("data.size=abc", "data.size=abc: must be a whole number"),
        ("max_images=0", "max_images=0: must be a whole number >= 1"),  # an empty set
        ("data.num_workers=-1", "data.num_workers=-1"),
    ],
)
def test_evaluate_options_are_one_line_naming_key_and_value(
    tmp_path: Path, override: str, named: str
) -> None:
    with pytest.raises(UserError) as caught:
        _evaluate(["data=sample", f"out={tmp_path / 'e'}", override])
    assert named in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "e").exists()


def test_evaluate_cli_bad_split_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run_cli(
        "inpaintgan.evaluate", "model=mean_fill", "split=bogus", f"out={tmp_path / 'e'}"
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "inpaintgan.evaluate: error: split=bogus: must be one of train, val, test, all"
    ]


# ----------------------------------------------------------------- loader worker errors
def test_an_error_in_a_loader_worker_keeps_its_message(tmp_path: Path) -> None:
    from inpaintgan.data import InpaintingDataset, ReportingDataLoader, collate
    from inpaintgan.data.masks import FolderMask
    from inpaintgan.errors import DataError, one_line

    root = _folder_of_photos(tmp_path / "photos", 2)
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "broken.png").write_bytes(b"not a png")
    dataset = InpaintingDataset(sorted(root.iterdir()), 32, FolderMask(masks), train=True)
    with pytest.raises(DataError) as direct:  # num_workers=0: one file is one file
        dataset[0]
    assert "all 1 mask file(s) are unreadable" in str(direct.value)
    assert "16" not in str(direct.value).replace(str(tmp_path), "")
    loader = ReportingDataLoader(dataset, batch_size=2, num_workers=1, collate_fn=collate)
    with pytest.raises(DataError) as caught:
        next(iter(loader))
    line = one_line(caught.value)
    assert line == str(direct.value), line


# ------------------------------------------------------------------- train, demo, bench
@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("max_batches=abc", "max_batches=abc"),
        ("data.num_workers=-1", "data.num_workers=-1: must be a whole number >= 0"),
        ("optim.generator.lr=-1", "optim.generator.lr=-1: must be positive"),
        ("trainer.max_epochs=-5", "trainer.max_epochs=-5: must be a whole number >= -1"),
        ("trainer.precision=fp8", "trainer.precision=fp8: must be one of"),
        ("model=telea", "model=telea: a classical method, nothing to train"),
        ("mask.weights.center=-1", "mask:"),
    ],
)
def test_train_options_are_one_line_before_anything_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, override: str, named: str
) -> None:
    from inpaintgan.train import train

    def must_not_start(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a logger was started before the config was checked")

    monkeypatch.setattr("inpaintgan.train.build_loggers", must_not_start)
    monkeypatch.setattr("inpaintgan.train.build_module", must_not_start)
    base = [o for o in TINY if not (override.startswith("model=") and o.startswith("model."))]
    cfg = compose_train([*base, override], tmp_path)
    with pytest.raises(UserError) as caught:
        train(cfg)
    assert named in str(caught.value) and "\n" not in str(caught.value)


def test_train_on_a_gpu_experiment_without_a_gpu_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inpaintgan.train import train

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("inpaintgan.train.build_loggers", lambda *a, **k: pytest.fail("logger"))
    cfg = compose_train(["experiment=places2", f"data.root={tmp_path}"], tmp_path / "run")
    with pytest.raises(UserError) as caught:
        train(cfg)
    message = str(caught.value)
    assert message.startswith("trainer.accelerator=gpu: this machine has no CUDA GPU")
    assert "trainer=cpu" in message


def test_train_checks_data_root_before_any_logger_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inpaintgan.errors import DataError
    from inpaintgan.train import train

    monkeypatch.setattr("inpaintgan.train.build_loggers", lambda *a, **k: pytest.fail("logger"))
    missing = tmp_path / "no_such_folder"
    cfg = compose_train([*TINY, "trainer=cpu", "data=folder", f"data.root={missing}"], tmp_path)
    with pytest.raises(DataError) as caught:
        train(cfg)
    assert str(missing) in str(caught.value)


def test_demo_port_and_bench_size_are_one_line() -> None:
    from inpaintgan.demo import demo
    from inpaintgan.perf import run_bench

    demo_cfg = compose_config("demo", ["port=99999", "models=[telea]"])
    bench_cfg = compose_config("bench", ["size=0", "device=cpu"])
    with pytest.raises(UserError, match=r"^port=99999: must be a whole number from 0 to 65535$"):
        demo(demo_cfg)
    with pytest.raises(UserError, match=r"^size=0: must be a whole number >= 1$"):
        run_bench(bench_cfg)


def test_predict_never_hands_a_renamed_eps_to_ghostscript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import EpsImagePlugin

    from inpaintgan.predict import predict

    def no_ghostscript(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the EPS decoder was reached")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", no_ghostscript)
    monkeypatch.setattr(EpsImagePlugin, "gs_windows_binary", None)
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "vector.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n")
    noise_photo(src / "ok.png", size=16)
    args = [f"input={src}", f"output={out}", "model=telea", "mask=center"]
    assert predict(compose_predict(args)) == (1, 1)
