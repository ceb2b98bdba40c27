"""Table 1 of the paper, in one place: from a training run to its score, and from scores to
the table.

* The published numbers (:data:`PUBLISHED`, center mask) the table shows first.
* :func:`evaluation_command` writes the ``python -m inpaintgan.evaluate ...`` line that scores
  a finished run as Table 1 does (the whole test split of its data set, its evaluation hole);
  :func:`log_evaluation_command` logs it after ``trainer.fit``. A Table-1 experiment validates
  on a fixed subset while it trains (``data.val_subset``); this command is its score.
* :func:`report` (``python -m inpaintgan.report``) reads the ``metrics.json`` of evaluation
  runs and writes the markdown: one row per (model, mask), PSNR and SSIM per data set (runs
  of one row, e.g. training seeds, as "mean ± sd (n)"), paired differences A − B
  (``pairs=``; the statistics are :mod:`inpaintgan.comparison`'s), and the hole-ratio bucket
  table of ``evaluate mask=buckets`` runs. Runs are only averaged or paired when they were
  scored alike (:func:`check_alike`).
* :func:`estimated_hours` is the arithmetic behind the README's "Table-1 runs on GPUs" table:
  FLOPs per training image (measured, docs/performance.md) over an *assumed* sustained rate;
  an estimate, not a measurement.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from inpaintgan.comparison import pair_header, paired_difference, read_per_image
from inpaintgan.config import build
from inpaintgan.errors import ReportError
from inpaintgan.io import check_outputs, write_atomically
from inpaintgan.perceptual import FID_UNBIASED_IMAGES

log = logging.getLogger(__name__)

# ------------------------------------------------------------------- the published table
PUBLISHED_DATASETS = ("celeba", "places2")
PUBLISHED: dict[str, dict[str, tuple[float, float]]] = {
    # Table 1 of the paper, center mask: data set -> (PSNR, SSIM).
    "Context Encoder": {"celeba": (24.16, 0.84), "places2": (24.73, 0.87)},
    "Shift-Net": {"celeba": (26.51, 0.88), "places2": (26.84, 0.91)},
    "this paper": {"celeba": (27.84, 0.89), "places2": (28.16, 0.93)},
}
DATASET_TITLES = {"celeba": "CelebA", "places2": "Places2"}
MODEL_TITLES = {"ce": "Context Encoder", "shiftnet": "Shift-Net", "paper": "this paper"}


# --------------------------------------------------------- a training run's Table-1 score
# data.* keys that decide which images are scored and how they are cropped.
DATA_KEYS = ("root", "variant", "resolution", "size")


def recorded_choices(cfg: DictConfig | None = None) -> Mapping[str, Any]:
    """The config groups Hydra chose for this run (``data: places2``, ``model: paper`` ...):
    the running Hydra app's, else those of a config composed with ``return_hydra_config``
    (``cfg.hydra.runtime.choices``); empty when neither is at hand."""
    if HydraConfig.initialized():
        return HydraConfig.get().runtime.choices
    hydra_node = cfg.get("hydra") if cfg is not None else None
    return ((hydra_node or {}).get("runtime") or {}).get("choices") or {}


def evaluation_command(
    cfg: DictConfig,
    ckpt: str | Path,
    out: str | Path | None = None,
    batch_size: int = 64,
    choices: Mapping[str, Any] | None = None,
) -> str:
    """The ``python -m inpaintgan.evaluate ...`` line that scores ``ckpt`` as Table 1
    does: the whole test split of the run's data set (no ``val_subset``), composited output,
    the run's center evaluation hole, PSNR/SSIM (+ LPIPS/FID when available).

    ``cfg`` is the training config; its data set is the ``data`` group Hydra chose
    (``choices``, default :func:`recorded_choices`; a ValueError when none is recorded).
    ``out`` defaults to ``<run dir>/evaluate_test``.
    """
    data = cfg.data
    group = (choices if choices is not None else recorded_choices(cfg)).get("data")
    if not group:
        raise ValueError("no data config group recorded for this run (pass Hydra's choices)")
    args = [f"ckpt={ckpt}", f"data={group}"]
    for key in DATA_KEYS:
        value = data.get(key)
        if value is not None:
            args.append(f"data.{key}={value}")
    args += ["split=test", *_mask_args(cfg.get("eval_mask")), f"seed={cfg.seed}"]
    args.append(f"batch_size={batch_size}")
    model = cfg.get("model")
    if model is not None and model.get("name"):
        args.append(f"name={model.name}")
    if out is None:
        out = Path(str(cfg.paths.output_dir)) / "evaluate_test"
    args.append(f"out={out}")
    return "python -m inpaintgan.evaluate " + " ".join(shlex.quote(a) for a in args)


def _mask_args(eval_mask: Any) -> list[str]:
    """``mask=center`` plus its fraction/overlap when they differ from conf/mask/center.yaml.

    Table 1 scores the center hole; a run validated on another distribution is still scored
    on it.
    """
    from inpaintgan.data.masks import CenterMask  # here: the report command needs no data code

    args = ["mask=center"]
    hole = build(eval_mask, "eval_mask") if eval_mask is not None else None
    if isinstance(hole, CenterMask):
        if hole.fraction != 0.5:
            args.append(f"mask.fraction={hole.fraction:g}")
        if hole.overlap != 0:
            args.append(f"mask.overlap={hole.overlap}")
    return args


def log_evaluation_command(
    cfg: DictConfig, trainer: Any, choices: Mapping[str, Any] | None = None
) -> str | None:
    """Log (and return) the evaluation command for the run's best checkpoint, else its
    ``last.ckpt``; None (nothing logged) on non-zero ranks, when neither exists, or when the
    run's data config group is not recorded (a config composed without Hydra's choices)."""
    if not getattr(trainer, "is_global_zero", True):
        return None
    callback = getattr(trainer, "checkpoint_callback", None)
    best = getattr(callback, "best_model_path", "") if callback is not None else ""
    last = Path(str(cfg.paths.output_dir)) / "checkpoints" / "last.ckpt"
    ckpt = best or (str(last) if last.is_file() else "")
    choices = choices if choices is not None else recorded_choices(cfg)
    if not ckpt or not choices.get("data"):
        return None
    command = evaluation_command(cfg, ckpt, choices=choices)
    log.info("Table-1 score of this run (whole test split): %s", command)
    return command


# ---------------------------------------------------------------------- the report tables
def find_metrics(runs: list[str | Path]) -> list[Path]:
    """The metrics.json files of ``runs``: files, run folders, or folders of runs."""
    found: list[Path] = []
    for run in runs:
        path = Path(run)
        if path.is_file():
            found.append(path)
        elif (path / "metrics.json").is_file():
            found.append(path / "metrics.json")
        elif path.is_dir():
            nested = sorted(path.rglob("metrics.json"))
            if not nested:
                raise ReportError(f"{path}: no metrics.json in this folder or below")
            found.extend(nested)
        else:
            raise ReportError(f"{path}: no such run folder or metrics.json")
    return found


def read_metrics(path: Path) -> dict[str, Any]:
    """One run's metrics.json, checked for the keys the table needs."""
    try:
        metrics = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportError(f"{path}: not a readable metrics.json ({err})") from err
    missing = [k for k in ("model", "data", "mask", "psnr", "ssim") if k not in metrics]
    if not isinstance(metrics, dict) or missing:
        raise ReportError(f"{path}: not an inpaintgan metrics.json (missing {missing})")
    return metrics


MATCH_FIELDS = ("size", "mask", "split", "seed")
"""What two runs must share to be averaged or paired: image size, mask (name and config),
split and the seed of the evaluation masks."""
FIELD_NAMES = {"size": "size (data.size)", "seed": "mask seed (seed)"}


def _field(run: dict[str, Any], field: str) -> Any:
    """The value of one matching field of a run (None when its metrics.json predates it)."""
    if field == "mask":
        config = (run.get("config") or {}).get("mask")
        return (run.get("mask"), json.dumps(config, sort_keys=True) if config else None)
    return run.get(field)


def _shown(run: dict[str, Any], field: str) -> str:
    if field == "mask":
        name, config = _field(run, "mask")
        return f"{name} {config}" if config else str(name)
    return str(run.get(field))


def check_alike(
    runs: Sequence[tuple[Path, dict[str, Any]]], what: str, fields: Sequence[str] = MATCH_FIELDS
) -> None:
    """A one-line ReportError when the runs (``(metrics.json, metrics)``) differ in one of
    ``fields``, naming the field, both runs and both values; ``what`` says why they must
    match (``averaged as ...``, ``paired as ...``). A field a run does not record is not
    compared (metrics.json files of older versions)."""
    if len(runs) < 2:
        return
    first_path, first = runs[0]
    for path, run in runs[1:]:
        for field in fields:
            a, b = _field(first, field), _field(run, field)
            if a is None or b is None or a == b:
                continue
            if field == "mask" and (a[0] == b[0] and (a[1] is None or b[1] is None)):
                continue
            raise ReportError(
                f"{what}: {first_path.parent} and {path.parent} differ in "
                f"{FIELD_NAMES.get(field, field)} ({_shown(first, field)} vs "
                f"{_shown(run, field)}); evaluate them alike, or give them different "
                "names (evaluate name=...)"
            )


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def run_label(run: dict[str, Any]) -> str:
    """The row name of a run: evaluate's ``name=``, else the model's title."""
    return run.get("name") or MODEL_TITLES.get(run["model"], run["model"])


def _cell_value(values: list[float], digits: int) -> str:
    if len(values) == 1:
        return _fmt(values[0], digits)
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return f"{mean:.{digits}f} ± {sd:.{digits}f} ({len(values)})"


def build_table(
    runs: list[dict[str, Any]], published: bool = True, paths: Sequence[Path] | None = None
) -> str:
    """Markdown table: rows (model, mask), columns PSNR then SSIM per data set; several runs
    of one row (training seeds) show their mean ± standard deviation and count, provided
    they were scored alike (:func:`check_alike`, else a ReportError naming the field)."""
    paths = (
        list(paths)
        if paths is not None
        else [Path(f"run{i}/metrics.json") for i in range(len(runs))]
    )
    cells: dict[tuple[str, str, str], list[tuple[Path, dict[str, Any]]]] = {}
    for path, run in zip(paths, runs, strict=True):
        cells.setdefault((run_label(run), run["mask"], run["data"]), []).append((path, run))
    for (label, mask, data), members in cells.items():
        check_alike(members, f"averaged as {label} / {mask} / {data}")
    datasets = list(PUBLISHED_DATASETS) if published else []
    datasets += sorted({r["data"] for r in runs} - set(datasets))
    rows: dict[tuple[str, str], dict[str, list[tuple[float, float]]]] = {}
    if published:
        for model, values in PUBLISHED.items():
            rows[(f"{model} (published)", "center")] = {d: [v] for d, v in values.items()}
    published_rows = set(rows)
    for run in runs:
        label = run_label(run)
        key = (f"{label} (ours)" if label in PUBLISHED else label, run["mask"])
        rows.setdefault(key, {}).setdefault(run["data"], []).append((run["psnr"], run["ssim"]))

    titles = [DATASET_TITLES.get(d, d) for d in datasets]
    header = ["model", "mask"] + [f"PSNR {t}" for t in titles] + [f"SSIM {t}" for t in titles]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (model, mask), values in rows.items():
        # the paper gives SSIM with two decimals: shown as published
        ssim_digits = 2 if (model, mask) in published_rows else 3
        psnr = [_cell_value([v[0] for v in values.get(d, [])] or [None], 2) for d in datasets]
        ssim = [
            _cell_value([v[1] for v in values.get(d, [])] or [None], ssim_digits) for d in datasets
        ]
        lines.append("| " + " | ".join([model, mask, *psnr, *ssim]) + " |")
    return "\n".join(lines) + "\n"


BUCKET_METRICS = (
    ("psnr", "PSNR", 2),
    ("ssim", "SSIM", 3),
    ("lpips", "LPIPS", 3),
    ("fid", "FID", 1),
)
"""The column group of each hole-ratio bucket: key, heading, digits."""


def _bucket_title(name: str) -> str:
    lo, hi = name.split("-")
    return f"({lo}, {hi}] %"


def _bucket_cell(entries: list[dict[str, Any]], key: str, digits: int) -> str:
    values = [e[key] for e in entries if e.get(key) is not None]
    if not values:
        return "needs weights" if key in ("lpips", "fid") else "–"
    cell = _cell_value(values, digits)
    if key == "fid":
        counts = sorted({e.get("fid_images") for e in entries if e.get("fid") is not None})
        cell += " (n=" + "/".join(str(c) for c in counts) + ")"
    return cell


def build_bucket_table(runs: list[dict[str, Any]]) -> str:
    """Markdown table of the ``mask=buckets`` runs: rows (model, data), one column group per
    hole-ratio bucket (PSNR, SSIM, LPIPS, FID); several runs of one row are averaged
    (mean ± sd (n)). A metric no run of the row has reads "needs weights" (LPIPS, FID)."""
    bucketed = [r for r in runs if r.get("buckets")]
    names: list[str] = []
    for run in bucketed:
        names += [n for n in run["buckets"] if n not in names]
    names.sort(key=lambda n: float(n.split("-")[0]))
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in bucketed:
        label = run_label(run)
        label = f"{label} (ours)" if label in PUBLISHED else label
        rows.setdefault((label, run["data"]), []).append(run)
    header = ["model", "data"] + [
        f"{title} {_bucket_title(n)}" for n in names for _, title, _ in BUCKET_METRICS
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (label, data), members in rows.items():
        cells = [label, DATASET_TITLES.get(data, data)]
        for name in names:
            entries = [m["buckets"][name] for m in members if name in m["buckets"]]
            cells += [_bucket_cell(entries, key, digits) for key, _, digits in BUCKET_METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def fid_note(runs: list[dict[str, Any]]) -> str:
    """One sentence on the image counts FID was computed over, when it is biased."""
    counts = {r.get("fid_images") for r in runs if r.get("fid") is not None}
    for run in runs:
        counts |= {e.get("fid_images") for e in (run.get("buckets") or {}).values() if e.get("fid")}
    counts.discard(None)
    if not counts or min(counts) >= FID_UNBIASED_IMAGES:
        return ""
    shown = ", ".join(str(c) for c in sorted(counts))
    return (
        f"FID over {shown} images (n in its cells): FID is biased upwards on few images (the bias "
        f"shrinks with n, noticeably below {FID_UNBIASED_IMAGES:,}); compare FIDs only at "
        "equal n, never with published FIDs over 10k-50k images.\n"
    )


def build_pairs(paths: list[Path], metrics: list[dict[str, Any]], pairs: list[list[str]]) -> str:
    """Markdown table of paired differences A − B (PSNR and SSIM) for the labelled runs."""
    by_label: dict[str, list[Path]] = {}
    runs_of: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for path, run in zip(paths, metrics, strict=True):
        label = run.get("name") or run["model"]
        by_label.setdefault(label, []).append(path.parent)
        runs_of.setdefault(label, []).append((path, run))
    header = ["A − B", *pair_header("PSNR", "dB"), *pair_header("SSIM")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for pair in pairs:
        if len(pair) != 2:
            raise ReportError(f"pairs: each entry is [A, B], got {list(pair)}")
        a, b = (str(x) for x in pair)
        missing = [x for x in (a, b) if x not in by_label]
        if missing:
            raise ReportError(f"pairs: no run labelled {missing[0]!r} (have {sorted(by_label)})")
        check_alike([*runs_of[a], *runs_of[b]], f"paired as {a} − {b}", (*MATCH_FIELDS, "data"))
        cells: list[str] = []
        for metric, digits in (("psnr", 2), ("ssim", 3)):
            a_runs = [read_per_image(r, metric) for r in sorted(by_label[a])]
            b_runs = [read_per_image(r, metric) for r in sorted(by_label[b])]
            try:
                diff = paired_difference(a, a_runs, b, b_runs, metric)
            except ValueError as err:
                raise ReportError(str(err)) from err
            row = diff.row(digits)
            cells = [row[0]] if not cells else cells
            cells += row[1:]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report(
    runs: list[str | Path],
    out: str | Path | None = None,
    published: bool = True,
    pairs: list[list[str]] | None = None,
    overwrite: bool = False,
) -> str:
    """Build the table of ``runs`` (and write it to ``out`` when given); returns the markdown.
    ``pairs`` adds the paired differences of those run labels (see :func:`build_pairs`).
    ``out`` may not be one of the runs' files and replaces an existing file only with
    ``overwrite`` (checked before anything is read)."""
    paths = find_metrics(runs)
    if out is not None:
        inputs = [f for p in paths for f in (p, p.parent / "per_image.csv")]
        check_outputs([("the report", Path(out))], inputs, overwrite)
    metrics = [read_metrics(p) for p in paths]
    table = build_table(metrics, published=published, paths=paths)
    if pairs:
        table += (
            "\nPaired differences A − B over the same photos (and seeds, paired by run folder "
            "order): mean with a two-level 95 % interval (photos and seeds as crossed random "
            "factors, Satterthwaite t) and the photo-only Student-t interval of the "
            "seed-averaged difference; wins = (photo, seed) pairs where A is higher; one mean "
            "per seed.\n\n" + build_pairs(paths, metrics, pairs)
        )
    if any(m.get("buckets") for m in metrics):
        table += (
            "\nHole-ratio buckets (evaluate mask=buckets: every model on the same mask files): "
            'means over images per bucket; LPIPS / FID read "needs weights" where the run '
            "could not compute them (docs/evaluation.md).\n\n" + build_bucket_table(metrics)
        )
    note = fid_note(metrics)
    if note:
        table += "\n" + note
    sources = "\n".join(
        f"- {m.get('name') or m['model']} / {m['data']} / {m['mask']}: {p.parent} "
        f"({m.get('n_images', '?')} images, checkpoint {m.get('checkpoint') or 'none'})"
        for p, m in zip(paths, metrics, strict=True)
    )
    text = (
        table
        + "\nPSNR in dB and SSIM on the composited output, means over images; published rows: "
        + "the paper's Table 1 (center mask, 256x256).\n\nRuns:\n"
        + sources
        + "\n"
    )
    if out is not None:
        write_atomically(out, lambda tmp: tmp.write_text(text))
    return text


# ------------------------------------------------------------------------ time estimates
# Training images per epoch (official lists).
TRAIN_IMAGES = {
    "places2": 1_803_460,  # places365_train_standard.txt
    "places2_challenge": 8_026_628,  # places365_train_challenge.txt
    "celeba": 162_770,  # list_eval_partition.txt, partition 0
}
# GFLOP of one training step per 256x256 image (G forward, D step, G step with every loss
# term), counted by torch.utils.flop_counter: docs/performance.md, "What each variant costs".
STEP_GFLOP = {"paper": 206.5, "shiftnet": 92.0, "ce": 56.0}
H100_BF16_TFLOPS = 989.0  # H100 SXM dense bf16 peak (NVIDIA datasheet)


def estimated_hours(
    model: str,
    dataset: str,
    gpus: int = 1,
    epochs: int = 30,
    peak_tflops: float = H100_BF16_TFLOPS,
    mfu: float = 0.2,
    multi_gpu_efficiency: float = 0.9,
) -> float:
    """Training time in hours of ``epochs`` over ``dataset`` (a :data:`TRAIN_IMAGES` key):
    images × :data:`STEP_GFLOP` ÷ (``gpus`` × ``peak_tflops`` × ``mfu``), with
    ``multi_gpu_efficiency`` applied when ``gpus > 1``. Validation and start-up excluded.
    An estimate from assumptions (MFU, scaling), not a measurement."""
    rate = gpus * peak_tflops * 1e12 * mfu * (multi_gpu_efficiency if gpus > 1 else 1.0)
    flops = TRAIN_IMAGES[dataset] * epochs * STEP_GFLOP[model] * 1e9
    return flops / rate / 3600
