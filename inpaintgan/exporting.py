"""Self-contained exports of a trained generator: ONNX and TorchScript files that run
without this package's model code, and their loaders.

An export is :class:`ExportableInpainter` — ``(image [B,3,H,W] in [0,1], mask [B,1,H,W],
1 = missing) -> composite [B,3,H,W] in [0,1]`` (the generator's output, clamped, with the
known pixels pasted back) — recorded as a graph with a dynamic batch and a dynamic image
size (any multiple of the network's ``size_multiple``; Context Encoder keeps its one
``fixed_size``). A JSON block of metadata (:class:`ExportInfo`: name, size rules, the run's
config) travels inside the file: ONNX ``metadata_props["inpaintgan"]``, TorchScript extra
file ``inpaintgan.json``.

Exporters: ONNX through ``torch.onnx.export(dynamo=True)`` (torch.export with symbolic
sizes ``size_multiple * k``), TorchScript through ``torch.jit.trace``. Every export is checked
before it is written: it must equal the eager generator within :data:`TOLERANCE` on probe
inputs it was not recorded with (another batch size, another image size, holes of other
sizes and places, several holes, no hole, all hole), else :class:`ExportError` and nothing
is written. ``onnx``, ``onnxscript`` and ``onnxruntime`` are optional dependencies (the
``export`` extra); a missing one is a one-line error naming it.

:func:`file_format` tells the three kinds of model file apart by their content;
``inpaintgan.inpainter.load_inpainter`` dispatches on it. :func:`export_model` is the
library behind the command ``python -m inpaintgan.export`` (``export.py``, options only).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from inpaintgan.checkpoints import (
    check_generator_config,
    export_generator,
    load_generator,
    refuse_same_file,
)
from inpaintgan.errors import CheckpointError, UserError
from inpaintgan.io import check_outputs, write_atomically
from inpaintgan.models.base import GeneratorOutput, composite, size_requirements
from inpaintgan.models.shift import ShiftLayer

__all__ = [
    "EXPORT_FORMATS",
    "ExportError",
    "ExportInfo",
    "ExportResult",
    "ExportableInpainter",
    "ONNX_OPSET",
    "TOLERANCE",
    "default_out",
    "example_inputs",
    "export_model",
    "export_onnx",
    "export_torchscript",
    "file_format",
    "load_exported",
    "load_onnx",
    "load_torchscript",
    "max_abs_difference",
    "probe_inputs",
    "require",
]

EXPORT_FORMATS = ("weights", "onnx", "torchscript")
"""``weights``: generator weights + config (a torch.save dict, needs this package);
``onnx`` / ``torchscript``: self-contained graphs of :class:`ExportableInpainter`."""

ONNX_OPSET = 18
"""ONNX opset of the exports (the dynamo exporter's native opset in torch 2.9+)."""

TOLERANCE = 1e-4
"""Largest absolute difference (images in [0, 1]) an export may show against the eager
generator on the probe inputs."""

METADATA_KEY = "inpaintgan"
TORCHSCRIPT_EXTRA_FILE = "inpaintgan.json"
EXPORT_FORMAT_VERSION = 1
INPUT_NAMES = ("image", "mask")
OUTPUT_NAME = "composite"
_SUFFIXES = {"weights": ".pt", "onnx": ".onnx", "torchscript": ".ts"}
_PACKAGES = {"onnx": "onnx", "onnxscript": "onnxscript", "onnxruntime": "onnxruntime"}

FileFormat = Literal["onnx", "torchscript", "checkpoint"]


class ExportError(UserError):
    """An export that cannot be made or would not be faithful; one line, nothing written."""


def _line(err: BaseException) -> str:
    """One line of ``err``: its first, or its last for TorchScript interpreter errors (whose
    first line is a generic header and the cause comes last)."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    line = lines[-1] if "TorchScript interpreter" in lines[0] else lines[0]
    return line[:300]


def require(package: str, why: str) -> Any:
    """Import an optional dependency, or raise a one-line :class:`UserError` naming it."""
    try:
        return importlib.import_module(package)
    except ImportError as err:
        raise UserError(
            f"{why} needs the package {package}, which is not installed "
            f"(pip install {_PACKAGES.get(package, package)}, or pip install 'inpaintgan[export]')"
        ) from err


# --------------------------------------------------------------------------- the model
class ExportableInpainter(nn.Module):
    """A generator behind the exported signature: ``(image, mask) -> composite``.

    ``image`` ``[B,3,H,W]`` in [0, 1], ``mask`` ``[B,1,H,W]`` (1 = missing) → ``[B,3,H,W]``
    in [0, 1]: the generator's raw prediction clamped to [0, 1] inside the hole, the input
    outside it (:func:`inpaintgan.models.base.composite`). Nothing else (no guidance
    feature), so the graph has one output.
    """

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        output = self.generator(image, mask).image.float().clamp(0, 1)
        return composite(output, image, mask)


@dataclass
class ExportInfo:
    """What a model file says about itself (stored as JSON inside it).

    Attributes:
        name: the model's name (``paper``, ``shiftnet``, ``ce`` ...).
        size_multiple: image sides must be multiples of it (the caller pads).
        fixed_size: the one side the network accepts (Context Encoder), else None.
        config: the run's resolved config (``model``, ``data`` ...), for reference.
        format: version of this block.
    """

    name: str
    size_multiple: int
    fixed_size: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    format: int = EXPORT_FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, path: str | Path) -> ExportInfo:
        """Parse the block of ``path``, or a one-line CheckpointError naming the file."""
        try:
            data = json.loads(text)
            return cls(
                name=str(data["name"]),
                size_multiple=int(data["size_multiple"]),
                fixed_size=None if data.get("fixed_size") is None else int(data["fixed_size"]),
                config=dict(data.get("config") or {}),
                format=int(data.get("format", EXPORT_FORMAT_VERSION)),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise CheckpointError(
                f"{path}: its inpaintgan metadata is unreadable ({type(err).__name__}: {err})"
            ) from err

    def check(self, path: str | Path) -> ExportInfo:
        """This block, its config checked against the generator allow-list (a config read
        from a file never names other code; :func:`inpaintgan.checkpoints.check_config`)."""
        check_generator_config(self.config, path)
        return self


@dataclass
class ExportResult:
    """An export that was written: where, in which format, and its measured fidelity."""

    path: Path
    format: str
    max_abs_diff: float | None = None
    info: ExportInfo | None = None


def export_info(generator: nn.Module, config: Any, name: str | None = None) -> ExportInfo:
    """The :class:`ExportInfo` of ``generator`` trained with ``config`` (a dict or DictConfig)."""
    if isinstance(config, DictConfig):
        config = OmegaConf.to_container(config, resolve=True)
    config = dict(config or {})
    multiple, fixed = size_requirements(generator)
    model_name = name or (config.get("model") or {}).get("name") or type(generator).__name__
    return ExportInfo(str(model_name), int(multiple), fixed, config)


# ------------------------------------------------------------------- inputs and checks
def _sides(info: ExportInfo, blocks: tuple[int, int]) -> tuple[int, int]:
    if info.fixed_size:
        return info.fixed_size, info.fixed_size
    return blocks[0] * info.size_multiple, blocks[1] * info.size_multiple


def example_inputs(info: ExportInfo, batch: int = 2, seed: int = 0) -> tuple[Tensor, Tensor]:
    """The inputs an export is recorded with: ``batch`` images of 2×3 size multiples (two
    different sides above 1, so that no size is specialised) with one central hole each."""
    height, width = _sides(info, (2, 3))
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, height, width, generator=generator)
    mask = torch.zeros(batch, 1, height, width)
    mask[..., height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 1
    return image, mask


def probe_masks(batch: int, height: int, width: int, seed: int = 1) -> Tensor:
    """``[batch, 1, H, W]`` masks, one kind per image in turn: a small hole top-left, a large
    one bottom-right, three holes, no hole, all hole, random pixels."""
    generator = torch.Generator().manual_seed(seed)
    masks = torch.zeros(batch, 1, height, width)
    h, w = height, width
    for i in range(batch):
        kind = i % 6
        if kind == 0:
            masks[i, :, h // 8 : h // 8 + max(1, h // 4), w // 8 : w // 8 + max(1, w // 5)] = 1
        elif kind == 1:
            masks[i, :, h // 3 :, w // 4 :] = 1
        elif kind == 2:
            masks[i, :, : h // 4, : w // 4] = 1
            masks[i, :, h // 2 : 3 * h // 4, w // 3 : 2 * w // 3] = 1
            masks[i, :, 3 * h // 4 :, 5 * w // 6 :] = 1
        elif kind == 4:
            masks[i] = 1
        elif kind == 5:
            masks[i] = (torch.rand(1, h, w, generator=generator) < 0.3).float()
    return masks


def probe_inputs(info: ExportInfo, seed: int = 1) -> list[tuple[Tensor, Tensor]]:
    """Inputs an export was not recorded with: two batches of 3 (the example has 2), one of
    1×2 and one of 2×1 size multiples (the example: 2×3; Context Encoder: its fixed size),
    together with every mask kind of :func:`probe_masks` (small, large, several, no hole,
    all hole, random)."""
    generator = torch.Generator().manual_seed(seed)
    probes = []
    for blocks, kinds in (((1, 2), slice(0, 3)), ((2, 1), slice(3, 6))):
        height, width = _sides(info, blocks)
        image = torch.rand(3, 3, height, width, generator=generator)
        probes.append((image, probe_masks(6, height, width, seed)[kinds]))
    return probes


def max_abs_difference(
    run: Callable[[Tensor, Tensor], Tensor],
    reference: nn.Module,
    inputs: list[tuple[Tensor, Tensor]],
) -> float:
    """Largest ``|run(image, mask) - reference(image, mask)|`` over ``inputs``."""
    worst = 0.0
    with torch.no_grad():
        for image, mask in inputs:
            got = run(image, mask)
            want = reference(image, mask)
            if got.shape != want.shape:
                return float("inf")
            worst = max(worst, float((got.float() - want.float()).abs().max()))
    return worst


@contextlib.contextmanager
def _dense_shift(module: nn.Module) -> Iterator[None]:
    """Run ``module``'s shift layers with the ``dense`` method, the one a graph records
    (eager CPU picks ``compact``: the same rule, but near-ties of the similarity may round
    the other way in another matmul shape, which is not what the check looks for)."""
    layers = [(m, m.method) for m in module.modules() if isinstance(m, ShiftLayer)]
    try:
        for layer, _ in layers:
            layer.method = "dense"
        yield
    finally:
        for layer, method in layers:
            layer.method = method


def _check_fidelity(
    kind: str, run: Callable[[Tensor, Tensor], Tensor], wrapper: nn.Module, info: ExportInfo
) -> float:
    """The export's largest deviation from the eager model on :func:`probe_inputs`;
    ExportError above :data:`TOLERANCE` (a graph that baked in the example's hole or size)."""
    try:
        with _dense_shift(wrapper):
            worst = max_abs_difference(run, wrapper, probe_inputs(info))
    except Exception as err:  # the graph refused an input it should take
        raise ExportError(
            f"the {kind} export of {info.name} fails on inputs it was not recorded with "
            f"({_line(err)}); nothing written"
        ) from err
    if not worst <= TOLERANCE:
        raise ExportError(
            f"the {kind} export of {info.name} differs from the generator by {worst:.3g} "
            f"(> {TOLERANCE:g}) on inputs it was not recorded with; nothing written"
        )
    return worst


# ------------------------------------------------------------------------------ ONNX
def export_onnx(
    generator: nn.Module,
    path: str | Path,
    info: ExportInfo,
    opset: int = ONNX_OPSET,
    verify: bool = True,
) -> ExportResult:
    """Write ``generator`` as an ONNX model of :class:`ExportableInpainter`.

    Inputs ``image`` ``[batch, 3, H, W]`` and ``mask`` ``[batch, 1, H, W]`` (float32), output
    ``composite``; ``batch`` is dynamic, and so are ``H`` and ``W`` as multiples of
    ``info.size_multiple`` (unless ``info.fixed_size``). With ``verify`` the model is run in
    onnxruntime on probe inputs first (:func:`probe_inputs`).
    """
    require("onnx", "ONNX export")
    require("onnxscript", "ONNX export")
    ort = require("onnxruntime", "checking an ONNX export") if verify else None
    from torch.export import Dim

    path = Path(path)
    wrapper = ExportableInpainter(generator).eval()
    image, mask = example_inputs(info)
    batch = Dim("batch", min=1)
    axes: dict[int, Any] = {0: batch}
    if not info.fixed_size:
        rows, cols = Dim("height_blocks", min=1), Dim("width_blocks", min=1)
        axes |= {2: info.size_multiple * rows, 3: info.size_multiple * cols}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's chatter (axis renames, deprecations)
        try:
            program = torch.onnx.export(
                wrapper,
                (image, mask),
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                dynamo=True,
                dynamic_shapes={"image": axes, "mask": axes},
                optimize=True,
                verbose=False,
            )
        except Exception as err:
            raise ExportError(f"ONNX export of {info.name} failed: {_line(err)}") from err
    program.model.metadata_props[METADATA_KEY] = info.to_json()
    worst = None
    if verify:
        session = _onnx_session(program.model_proto.SerializeToString(), "the export", "cpu", ort)
        worst = _check_fidelity("ONNX", _onnx_runner(session), wrapper, info)
    write_atomically(path, lambda tmp: program.save(tmp, external_data=False))
    return ExportResult(path, "onnx", worst, info)


def _onnx_session(model: str | bytes, label: str, device: str, ort: Any) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    options.log_severity_level = 3
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        index = int(device.split(":")[1]) if ":" in device else 0
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
    try:
        return ort.InferenceSession(model, sess_options=options, providers=providers)
    except Exception as err:
        raise CheckpointError(f"{label}: not a readable ONNX model ({_line(err)})") from err


def _onnx_runner(session: Any) -> Callable[[Tensor, Tensor], Tensor]:
    def run(image: Tensor, mask: Tensor) -> Tensor:
        feeds = {
            INPUT_NAMES[0]: np.ascontiguousarray(image.detach().float().cpu().numpy()),
            INPUT_NAMES[1]: np.ascontiguousarray(mask.detach().float().cpu().numpy()),
        }
        (output,) = session.run([OUTPUT_NAME], feeds)
        return torch.from_numpy(output).to(image.device)

    return run


class OnnxInpainter(nn.Module):
    """An ONNX export in onnxruntime behind the generator call: ``(image, mask) ->
    GeneratorOutput(image=composite)`` (tensors in and out, on the input's device)."""

    def __init__(self, session: Any, info: ExportInfo, path: str | Path) -> None:
        super().__init__()
        self.session, self.info, self.path = session, info, str(path)
        self.size_multiple, self.fixed_size = info.size_multiple, info.fixed_size
        self._run = _onnx_runner(session)

    def forward(self, image: Tensor, mask: Tensor) -> GeneratorOutput:
        return GeneratorOutput(self._run(image, mask))


def load_onnx(path: str | Path, device: str | torch.device = "cpu") -> OnnxInpainter:
    """An ONNX export of this package, in onnxruntime (CUDA when ``device`` is a GPU and the
    runtime has it); one-line errors for a missing onnxruntime or a foreign file."""
    ort = require("onnxruntime", f"{path}: running an ONNX model")
    session = _onnx_session(str(path), str(path), str(device), ort)
    metadata = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in metadata:
        raise CheckpointError(f"{path}: an ONNX model, but not an inpaintgan export (no metadata)")
    names = [i.name for i in session.get_inputs()]
    if names != list(INPUT_NAMES):
        raise CheckpointError(f"{path}: ONNX inputs are {names}, expected {list(INPUT_NAMES)}")
    info = ExportInfo.from_json(metadata[METADATA_KEY], path).check(path)
    return OnnxInpainter(session, info, path)


# ------------------------------------------------------------------------ TorchScript
def export_torchscript(
    generator: nn.Module, path: str | Path, info: ExportInfo, verify: bool = True
) -> ExportResult:
    """Write ``generator`` as a traced TorchScript module of :class:`ExportableInpainter`
    (``torch.jit.load`` runs it; batch and size follow the input). With ``verify`` the
    trace is run on probe inputs first (:func:`probe_inputs`)."""
    path = Path(path)
    wrapper = ExportableInpainter(generator).eval()
    image, mask = example_inputs(info)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings of shape checks; verified below
        try:
            traced = torch.jit.trace(wrapper, (image, mask), check_trace=False)
        except Exception as err:
            raise ExportError(f"TorchScript export of {info.name} failed: {_line(err)}") from err
    worst = _check_fidelity("TorchScript", traced, wrapper, info) if verify else None
    extra = {TORCHSCRIPT_EXTRA_FILE: info.to_json()}

    def save(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
            torch.jit.save(traced, str(tmp), _extra_files=extra)

    write_atomically(path, save)
    return ExportResult(path, "torchscript", worst, info)


class TorchScriptInpainter(nn.Module):
    """A TorchScript export behind the generator call: ``(image, mask) ->
    GeneratorOutput(image=composite)``."""

    def __init__(self, module: torch.jit.ScriptModule, info: ExportInfo, path: str | Path):
        super().__init__()
        self.module, self.info, self.path = module, info, str(path)
        self.size_multiple, self.fixed_size = info.size_multiple, info.fixed_size

    def forward(self, image: Tensor, mask: Tensor) -> GeneratorOutput:
        return GeneratorOutput(self.module(image.float(), mask.float()))


def load_torchscript(path: str | Path, device: str | torch.device = "cpu") -> TorchScriptInpainter:
    """A TorchScript export of this package, on ``device``; one-line errors otherwise."""
    extra = {TORCHSCRIPT_EXTRA_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except Exception as err:
        raise CheckpointError(f"{path}: not a readable TorchScript model ({_line(err)})") from err
    if not extra[TORCHSCRIPT_EXTRA_FILE]:
        raise CheckpointError(
            f"{path}: a TorchScript model, but not an inpaintgan export "
            f"(no {TORCHSCRIPT_EXTRA_FILE} inside)"
        )
    info = ExportInfo.from_json(extra[TORCHSCRIPT_EXTRA_FILE], path).check(path)
    return TorchScriptInpainter(module.eval(), info, path).eval()


# ----------------------------------------------------------------------- dispatching
def file_format(path: str | Path) -> FileFormat:
    """What kind of model file ``path`` is, from its content (not its name).

    ``torchscript``: a zip archive with TorchScript code; ``onnx``: a protobuf that starts
    like an ONNX ModelProto (field 1, ``ir_version``); ``checkpoint``: anything else (a
    torch.save file, or a file that :func:`inpaintgan.checkpoints.read_checkpoint` will
    refuse in one line). A missing file is a CheckpointError.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return "checkpoint"
        if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
            return "torchscript"
        return "checkpoint"
    if head[:1] == b"\x08":  # ModelProto.ir_version: the first field ONNX writers emit
        return "onnx"
    return "checkpoint"


def load_exported(
    path: str | Path, device: str | torch.device = "cpu"
) -> OnnxInpainter | TorchScriptInpainter:
    """The ONNX or TorchScript export in ``path`` (sniffed by :func:`file_format`)."""
    kind = file_format(path)
    if kind == "onnx":
        return load_onnx(path, device)
    if kind == "torchscript":
        return load_torchscript(path, device)
    raise CheckpointError(f"{path}: not an ONNX or TorchScript export")


def default_out(fmt: str) -> Path:
    """``generator.pt`` / ``generator.onnx`` / ``generator.ts`` by format."""
    return Path(f"generator{_SUFFIXES[fmt]}")


def export_model(
    ckpt: str | Path,
    out: str | Path | None = None,
    fmt: str = "weights",
    opset: int = ONNX_OPSET,
    verify: bool = True,
    overwrite: bool = False,
) -> ExportResult:
    """Export the generator of a training checkpoint (or weights file) ``ckpt`` to ``out``
    as ``fmt``: ``weights`` (weights + config), ``onnx`` or ``torchscript``. An existing
    ``out`` is replaced only with ``overwrite`` and never when it is ``ckpt``
    (:func:`inpaintgan.io.check_outputs`), checked before anything is loaded."""
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"format={fmt} is not one of {', '.join(EXPORT_FORMATS)}")
    out = Path(out) if out else default_out(fmt)
    if fmt == "weights":
        return ExportResult(export_generator(ckpt, out, overwrite), fmt)
    refuse_same_file(ckpt, out)
    check_outputs([(str(ckpt), out)], [ckpt], overwrite)
    generator, config = load_generator(ckpt)
    info = export_info(generator, config)
    if fmt == "onnx":
        return export_onnx(generator, out, info, opset=opset, verify=verify)
    return export_torchscript(generator, out, info, verify=verify)
