"""Exports (ONNX, TorchScript) of every variant, loading them back, and the Python API.

Each variant is exported once per format (module fixture, on first use) from a tiny
checkpoint whose weights are re-drawn large enough that the output depends visibly on the
image and the mask (the default init of a tiny net predicts nearly flat grey, which would
hide a wrong graph). The exports are run in onnxruntime and torch.jit.load directly and
compared with the eager generator on masks, batch sizes and image sizes they were not
recorded with.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from helpers import REPO_ROOT, compose_train, run_cli
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image
from torch import Tensor, nn

from inpaintgan.checkpoints import CheckpointError, checkpoint_metadata
from inpaintgan.config import CONFIG_DIR
from inpaintgan.errors import InputError, UserError
from inpaintgan.evaluation import evaluate
from inpaintgan.exporting import (
    TOLERANCE,
    ExportableInpainter,
    ExportError,
    ExportInfo,
    export_model,
    export_torchscript,
    file_format,
    probe_masks,
)
from inpaintgan.inpainter import load_inpainter
from inpaintgan.models.base import GeneratorOutput
from inpaintgan.predict import predict

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:FutureWarning")

VARIANTS = ("paper", "shiftnet", "ce", "paper_ring_mean")  # the last: hole_fill=ring_mean
SIZE = 32  # data.size of the tiny variants: U-Nets of depth 5 (multiples of 32), CE at 32


def _lively(generator: nn.Module) -> nn.Module:
    """Weights ~ N(0, (1.5/√fan_in)²), biases ~ N(0, 0.1²): outputs that depend on the input."""
    torch.manual_seed(0)
    for module in generator.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            fan_in = module.weight[0].numel()
            nn.init.normal_(module.weight, 0.0, 1.5 / fan_in**0.5)
            if module.bias is not None:
                nn.init.normal_(module.bias, 0.0, 0.1)
    return generator.eval()


def _write_checkpoint(variant: str, path: Path) -> tuple[Path, nn.Module]:
    """A weights file (the export command's input format) of a tiny ``variant``."""
    model = variant.removesuffix("_ring_mean")
    overrides = [f"data.size={SIZE}", f"model={model}", "model.generator.base_channels=4"]
    overrides.append("model.generator.max_channels=16")
    if variant.endswith("_ring_mean"):  # the ring's mean colour in the input's hole
        overrides.append("model.generator.hole_fill=ring_mean")
    if variant == "ce":
        overrides.append("model.generator.bottleneck_channels=16")
    cfg = compose_train(overrides, path.parent)
    generator = _lively(instantiate(cfg.model.generator))
    generator_cfg = OmegaConf.to_container(cfg.model.generator, resolve=True)
    config = {"model": {"name": model, "generator": generator_cfg}, "data": {"size": SIZE}}
    payload = {"inpaintgan": checkpoint_metadata(config), "generator": generator.state_dict()}
    torch.save(payload, path)
    return path, generator


class _Variant(dict):
    """One tiny variant: ``ckpt`` and ``generator`` at once, ``onnx`` / ``ts`` (ExportResult)
    exported on first use, so a failing export fails only the tests that need it."""

    def __init__(self, variant: str, folder: Path) -> None:
        ckpt, generator = _write_checkpoint(variant, folder / f"{variant}.pt")
        super().__init__(ckpt=ckpt, generator=generator)
        self.variant, self.folder = variant, folder

    def __missing__(self, kind: str) -> object:
        fmt = {"onnx": "onnx", "ts": "torchscript"}[kind]
        self[kind] = export_model(self["ckpt"], self.folder / f"{self.variant}.{kind}", fmt)
        return self[kind]


class _Variants(dict):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def __missing__(self, variant: str) -> _Variant:
        self[variant] = _Variant(variant, self.folder)
        return self[variant]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    """Per variant (built on first use): its checkpoint, eager generator, .onnx and .ts."""
    return _Variants(tmp_path_factory.mktemp("exports"))


def _unseen_inputs(variant: str) -> list[tuple[Tensor, Tensor]]:
    """Batches the exports were not recorded with (those had batch 2, 64x96 and one central
    hole): batch 1, 3 and 6; sizes 32x128, 96x64, 64x96 (CE: 32x32); every mask kind of
    :func:`probe_masks` (small, large, several, no hole, all hole, random) at every size."""
    sizes = [(1, 32, 128), (3, 96, 64), (6, 64, 96)]
    if variant == "ce":
        sizes = [(batch, SIZE, SIZE) for batch, _, _ in sizes]
    generator = torch.Generator().manual_seed(7)
    inputs = []
    for batch, height, width in sizes:
        image = torch.rand(batch, 3, height, width, generator=generator)
        masks = probe_masks(6, height, width, seed=batch)
        for shift in range(0, 6, batch):
            inputs.append((image, masks.roll(-shift, 0)[:batch]))
    return inputs


def _mask_matters(generator: nn.Module, size: tuple[int, int]) -> float:
    """Largest change of the raw output, at pixels missing under both masks, between a large
    hole and an all-missing mask on one image: what a graph that ignores the mask misses."""
    image = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(3)).expand(
        2, -1, -1, -1
    )
    masks = probe_masks(6, *size)[[1, 4]]
    with torch.no_grad():
        output = generator(image, masks).image
    both = (masks[0] * masks[1]).bool().expand(3, -1, -1)
    return float((output[0] - output[1])[both].abs().max())


def _runner(kind: str, path: Path):
    """The exported file run by its own runtime only: onnxruntime, or torch.jit.load."""
    if kind == "onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        shapes = [tuple(i.shape) for i in session.get_inputs()]

        def run(image: Tensor, mask: Tensor) -> Tensor:
            feeds = {"image": image.numpy(), "mask": mask.numpy()}
            return torch.from_numpy(session.run(None, feeds)[0])

        return run, shapes
    scripted = torch.jit.load(str(path))
    return scripted, None


@pytest.mark.parametrize("kind", ["onnx", "ts"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_exports_equal_the_generator_on_unseen_masks_batches_and_sizes(
    variant: str, kind: str, exports: dict[str, dict[str, object]]
) -> None:
    made = exports[variant]
    reference = ExportableInpainter(made["generator"]).eval()
    # The comparison can fail: the output inside a hole depends on the rest of the mask.
    assert _mask_matters(made["generator"], (SIZE, SIZE) if variant == "ce" else (64, 96)) > 0.02
    run, shapes = _runner(kind, made[kind].path)
    if shapes is not None and variant == "ce":  # Context Encoder: its one size, any batch
        assert shapes == [("batch", 3, SIZE, SIZE), ("batch", 1, SIZE, SIZE)]
    elif shapes is not None:  # symbolic batch and sides
        assert all(isinstance(shape[0], str) and isinstance(shape[2], str) for shape in shapes)
    worst = 0.0
    with torch.no_grad():
        for image, mask in _unseen_inputs(variant):
            want, got = reference(image, mask), run(image, mask)
            assert got.shape == want.shape
            worst = max(worst, float((got - want).abs().max()))
            # Known pixels are the input's; an all-known image comes back unchanged.
            known = (mask == 0).expand_as(image)
            assert torch.equal(got[known], image[known])
    print(f"{variant} {kind}: max |export - eager| = {worst:.3g}")
    assert worst <= TOLERANCE and made[kind].max_abs_diff <= TOLERANCE


def test_an_export_that_bakes_in_its_example_is_refused(tmp_path: Path) -> None:
    """The guard against silently wrong graphs (a traced shift that indexes by the hole)."""

    class _HoleCount(nn.Module):
        size_multiple = 8

        def forward(self, image: Tensor, mask: Tensor) -> GeneratorOutput:
            filled = int(mask.sum())  # a Python int: traced as the example's constant
            return GeneratorOutput(image.new_full(image.shape, filled % 7 / 7))

    info = ExportInfo("bakes", size_multiple=8)
    with pytest.raises(ExportError, match="differs from the generator") as error:
        export_torchscript(_HoleCount(), tmp_path / "bad.ts", info)
    assert "\n" not in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, no temp file


def test_files_are_told_apart_by_content_and_foreign_ones_are_one_line(
    exports: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    made = exports["paper"]
    renamed_ts, renamed_onnx = tmp_path / "model.pt", tmp_path / "model.bin"
    renamed_ts.write_bytes(made["ts"].path.read_bytes())
    renamed_onnx.write_bytes(made["onnx"].path.read_bytes())
    assert file_format(made["ckpt"]) == "checkpoint"
    assert file_format(renamed_ts) == "torchscript" and file_format(renamed_onnx) == "onnx"
    for path in (renamed_ts, renamed_onnx):
        assert load_inpainter(path, None, "cpu").name == "paper"

    foreign_ts = tmp_path / "foreign.ts"
    torch.jit.save(torch.jit.trace(nn.Conv2d(3, 3, 1), torch.rand(1, 3, 4, 4)), str(foreign_ts))
    foreign_onnx = tmp_path / "foreign.onnx"
    value = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])], "foreign", [value],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3])],
    )  # fmt: skip
    onnx.save(onnx.helper.make_model(graph), foreign_onnx)  # a valid model, not ours
    garbage_onnx = tmp_path / "garbage.onnx"
    garbage_onnx.write_bytes(b"\x08\x07 not really a model")
    other_zip = tmp_path / "other.pt"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("notes.txt", "hello")
    for path in (foreign_ts, foreign_onnx, garbage_onnx, other_zip):
        with pytest.raises(CheckpointError) as info:
            load_inpainter(str(path), None, "cpu")
        message = str(info.value)
        assert path.name in message and "\n" not in message, message


def test_missing_onnxruntime_is_one_line_naming_it(
    exports: dict[str, dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    with pytest.raises(UserError) as info:
        load_inpainter(exports["paper"]["onnx"].path, None, "cpu")
    assert "onnxruntime" in str(info.value) and "\n" not in str(info.value)


def _evaluate_cfg(overrides: list[str]):
    quick = ["data.num_workers=0", "device=cpu", "progress=false", "lpips=false", "fid=false"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(
            config_name="evaluate", overrides=[*quick, *overrides], return_hydra_config=True
        )


def test_evaluate_and_predict_give_the_checkpoints_numbers_and_pixels(
    exports: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    made = exports["paper"]
    files = {"ckpt": made["ckpt"], "onnx": made["onnx"].path, "ts": made["ts"].path}
    summaries = {}
    for kind, path in files.items():
        cfg = _evaluate_cfg([f"ckpt={path}", f"out={tmp_path / kind}", "max_images=4"])
        summaries[kind] = evaluate(cfg, cfg.hydra.runtime.choices)
    for kind in ("onnx", "ts"):
        assert summaries[kind]["model"] == "paper"
        assert summaries[kind]["checkpoint"] == str(files[kind])
        for key in ("psnr", "ssim", "hole_psnr"):
            print(f"{kind} {key}: {summaries[kind][key] - summaries['ckpt'][key]:+.2g}")
            assert summaries[kind][key] == pytest.approx(summaries["ckpt"][key], abs=1e-4), key

    src = tmp_path / "photos"
    src.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)).save(src / "a.png")
    hole = np.zeros((50, 70), np.uint8)
    hole[10:30, 20:45] = 255
    hole[40:, :8] = 255
    Image.fromarray(hole).save(src / "a_mask.png")
    outputs = {}
    for kind, path in files.items():
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(
                config_name="predict",
                overrides=[
                    "device=cpu",
                    f"ckpt={path}",
                    f"input={src}",
                    f"output={tmp_path / kind}",
                ],
            )
        assert predict(cfg) == (1, 0)
        outputs[kind] = np.asarray(Image.open(tmp_path / kind / "a.png"))
    assert not np.array_equal(
        outputs["ckpt"][hole > 0], np.asarray(Image.open(src / "a.png"))[hole > 0]
    )
    assert np.array_equal(outputs["ts"], outputs["ckpt"])  # the same torch kernels
    # onnxruntime's kernels round differently (~1e-6): a value may land on the other side of
    # an 8-bit step (none does here; allowed, rarely, on other CPUs).
    print(f"onnx PNG: {(outputs['onnx'] != outputs['ckpt']).sum()} values differ")
    assert np.abs(outputs["onnx"].astype(int) - outputs["ckpt"]).max() <= 1
    assert (outputs["onnx"] != outputs["ckpt"]).mean() < 1e-3


def test_python_api_returns_the_kind_it_was_given_at_any_size(
    exports: dict[str, dict[str, object]],
) -> None:
    fill = load_inpainter(exports["paper"]["ckpt"], device="cpu")
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (45, 70, 3), dtype=np.uint8)  # not a multiple of 32
    hole = np.zeros((45, 70), bool)
    hole[5:25, 30:60] = True
    out = fill(image, hole)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(out[~hole], image[~hole]) and not np.array_equal(out[hole], image[hole])
    # The same fill through every other kind of input (and every mask convention).
    as_pil = fill(Image.fromarray(image), Image.fromarray(hole.astype(np.uint8) * 255))
    assert isinstance(as_pil, Image.Image) and np.array_equal(np.asarray(as_pil), out)
    assert np.array_equal(fill(image, hole.astype(np.uint8)), out)  # 1 = missing
    assert np.array_equal(fill(image, hole.astype(np.float32)), out)
    as_float = fill(image.astype(np.float32) / 255, hole)
    assert as_float.dtype == np.float32 and np.abs(as_float * 255 - out).max() <= 0.5 + 1e-3
    tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    as_tensor = fill(tensor, torch.from_numpy(hole))
    assert as_tensor.shape == tensor.shape and torch.allclose(
        as_tensor, torch.from_numpy(as_float).permute(2, 0, 1)
    )
    batch = fill(tensor[None], torch.from_numpy(hole)[None, None].float())  # the batch call
    assert torch.equal(batch[0], as_tensor)
    as_bytes = fill(
        torch.from_numpy(image).permute(2, 0, 1)[None], torch.from_numpy(hole)[None, None]
    )
    assert torch.equal(as_bytes, batch)  # uint8 batches (the loaders' dtype) are read as /255
    with pytest.raises(InputError, match="70x45"):
        fill(image, hole[:40])
    telea = load_inpainter("telea", device="cpu")
    assert telea.name == "telea" and np.array_equal(telea(image, hole)[~hole], image[~hole])


def _readme_snippet() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Use a trained model from Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_snippet_runs_as_written(
    exports: dict[str, dict[str, object]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = _readme_snippet()
    assert "from inpaintgan import load_inpainter" in code and "last.ckpt" in code
    (tmp_path / "last.ckpt").write_bytes(exports["paper"]["ckpt"].read_bytes())
    rng = np.random.default_rng(2)
    photo = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    hole = np.zeros((60, 90), np.uint8)
    hole[20:40, 30:70] = 255
    Image.fromarray(hole).save(tmp_path / "photo_mask.png")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    filled = np.asarray(Image.open(tmp_path / "filled.png"))
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            config_name="predict",
            overrides=["device=cpu", "ckpt=last.ckpt", "input=photo.png", "out=out/p.png"],
        )
    assert predict(cfg) == (1, 0)
    assert np.array_equal(filled, np.asarray(Image.open(tmp_path / "out" / "p.png")))
    assert np.array_equal(filled[hole == 0], photo[hole == 0])


def test_import_inpaintgan_is_light() -> None:
    code = (
        "import sys, inpaintgan; print(sorted({'torch', 'hydra', 'omegaconf'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr[-2000:]
    import inpaintgan

    assert inpaintgan.load_inpainter is load_inpainter  # resolved on first use
    assert "load_inpainter" in dir(inpaintgan)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        inpaintgan.nothing  # noqa: B018


def test_cli_exports_torchscript_and_bad_requests_are_refused(
    exports: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    ckpt = exports["ce"]["ckpt"]
    out = tmp_path / "ce.ts"
    result = run_cli("inpaintgan.export", f"ckpt={ckpt}", "format=torchscript", f"out={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "wrote" in result.stdout and file_format(out) == "torchscript"
    with pytest.raises(ExportError, match="format=tflite is not one of weights, onnx"):
        export_model(ckpt, tmp_path / "x", "tflite")
    with pytest.raises(CheckpointError, match="checkpoint itself"):
        export_model(ckpt, ckpt, "onnx")
