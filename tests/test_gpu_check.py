"""scripts/gpu_check.sh without a GPU: its syntax, its runner (steps, time budget, summary,
exit status) on steps that need no model, and the summary parser on made-up step logs.

The full dry run (``scripts/gpu_check.sh --dry-run``: every step on the CPU at tiny sizes)
takes minutes on a 2-core machine, so it is run by hand (docs/performance.md, GPU check).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from helpers import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "gpu_check.sh"


def load_summary() -> ModuleType:
    path = REPO_ROOT / "scripts" / "gpu_check_summary.py"
    spec = importlib.util.spec_from_file_location("gpu_check_summary", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


summary = load_summary()


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith("GPU_CHECK_") and k != "OUT"
    }
    full_env.update({"GPU_CHECK_PY": sys.executable, **(env or {})})
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=REPO_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("name", ["gpu_check.sh", "gpu_wheels.sh"])
def test_scripts_parse(name: str) -> None:
    result = subprocess.run(
        ["bash", "-n", str(REPO_ROOT / "scripts" / name)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_help_and_a_wrong_argument() -> None:
    result = run_script("--help")
    assert result.returncode == 0
    for step in ("install", "cuda_tests", "train", "resume", "bench", "compile", "ddp"):
        assert f"  {step} " in result.stdout
    wrong = run_script("--nope")
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines() == [
        "gpu_check.sh: unknown argument '--nope' (use --dry-run, --out DIR, --help)"
    ]


def test_runner_writes_the_summary_and_a_skip_passes(tmp_path: Path) -> None:
    # The dry run's DDP step is a skip: the runner, the summary and the files, in seconds.
    result = run_script("--dry-run", "--out", str(tmp_path), env={"GPU_CHECK_STEPS": "ddp"})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (tmp_path / "gpu_check_summary.txt").read_text().splitlines()
    assert lines[0].startswith("gpu_check (dry run on the CPU): ")
    assert lines[1].startswith("skip ddp ") and "DDP needs 2 GPUs" in lines[1]
    assert lines[-1].startswith("gpu_check: 0 ok, 0 failed, 1 skipped")
    document = json.loads((tmp_path / "gpu_check_summary.json").read_text())
    assert [c["status"] for c in document["checks"]] == ["skip"]
    assert "=================== ddp" in (tmp_path / "gpu_check.log").read_text()
    assert lines[1] in result.stdout


def test_a_spent_time_budget_fails_the_steps_it_leaves_out(tmp_path: Path) -> None:
    result = run_script(
        "--dry-run",
        "--out",
        str(tmp_path),
        env={"GPU_CHECK_STEPS": "install bench", "GPU_CHECK_BUDGET_S": "0"},
    )
    assert result.returncode == 1
    text = (tmp_path / "gpu_check_summary.txt").read_text()
    assert "FAIL install" in text and "FAIL bench" in text and "time budget" in text
    assert "FAILED: install, bench" in text


# ----------------------------------------------------------------------- the parser
PYTEST_LOG = """\
tests/test_cuda.py ........s                                              [100%]
=========================== short test summary info ============================
SKIPPED [1] tests/test_cuda.py:240: inpaintgan.data.to_float_batch is not there yet
8 passed, 1 skipped, 38 deselected in 41.20s
"""


def write_step(log_dir: Path, name: str, code: int, seconds: float, log: str) -> None:
    (log_dir / f"{name}.log").write_text(log)
    with (log_dir / "steps.tsv").open("a") as table:
        table.write(f"{name}\t{code}\t{seconds}\n")


def bench_json(path: Path) -> None:
    entry = {"ms_per_image": 10.5, "images_per_s": 95.2, "peak_memory_bytes": 3 * 2**30}
    data = {
        "train_step": {**entry, "mfu_spec": 0.312, "mfu_measured": 0.401},
        "forward": {"ms_per_image": 1.25, "images_per_s": 800.0},
        "peak": {
            "math": "bf16",
            "measured": {"flops_per_s": 7.7e14},
            "spec": {"gpu": "H200 SXM", "flops_per_s": 9.894e14},
        },
    }
    path.write_text(json.dumps(data))


def test_summary_of_a_gpu_run(tmp_path: Path) -> None:
    (tmp_path / "header.txt").write_text("gpu_check (GPU run): 1 x NVIDIA H200; commit abc")
    write_step(tmp_path, "install", 0, 12.0, "gpu_check: torch 2.11.0, hydra-core 1.3.8\n")
    write_step(tmp_path, "cuda_tests", 0, 41.2, PYTEST_LOG)
    write_step(tmp_path, "train", 1, 30.0, "Traceback ...\nRuntimeError: CUDA out of memory\n")
    write_step(tmp_path, "resume", 124, 90.0, "Epoch 3\n")
    bench_json(tmp_path / "bench_b32.json")
    write_step(tmp_path, "bench", 0, 55.0, f"table\nwrote {tmp_path / 'bench_b32.json'}\n")
    compile_line = {
        "fractions": [0.5, 0.375, 0.25],
        "recompiles": 2,
        "eager_median_ms": 120.0,
        "compiled_median_ms": 80.0,
        "speedup": 1.5,
        "first_call_s": [50.0, 20.0, 20.0],
        "ok": False,
    }
    write_step(tmp_path, "compile", 1, 100.0, f"compile_check {json.dumps(compile_line)}\n")
    write_step(tmp_path, "ddp", 99, 0.5, "gpu_check: 1 GPU: trainer=ddp needs 2\n")
    out = tmp_path / "out"
    assert summary.main([str(tmp_path), str(out)]) == 1
    text = (out / "gpu_check_summary.txt").read_text()
    lines = {line.split()[1]: line for line in text.splitlines()[1:-1]}
    assert lines["install"].startswith("ok   install") and "hydra-core 1.3.8" in lines["install"]
    assert lines["cuda_tests"].startswith("ok") and "8 passed, 1 skipped" in lines["cuda_tests"]
    assert lines["train"].startswith("FAIL") and "exit 1: RuntimeError: CUDA out of" in text
    assert lines["resume"].startswith("FAIL") and "timed out after 90 s" in lines["resume"]
    assert lines["bench"].startswith("ok")
    assert "train_step 10.50 ms/img (95 img/s, MFU 31.2% spec / 40.1% measured, 3.0 GiB)" in text
    assert "peak bf16: measured 770.0 TFLOP/s, spec H200 SXM 989.4 TFLOP/s" in text
    assert lines["compile"].startswith("FAIL") and "recompiles=2 over 3 hole sizes" in text
    assert "eager 120.0 ms, compiled 80.0 ms (1.50x)" in text
    assert lines["ddp"].startswith("skip") and "needs 2" in lines["ddp"]
    assert text.splitlines()[-1] == (
        "gpu_check: 3 ok, 3 failed, 1 skipped in 329 s: FAILED: train, resume, compile"
    )
    document = json.loads((out / "gpu_check_summary.json").read_text())
    assert [c["name"] for c in document["checks"]][:2] == ["install", "cuda_tests"]


def test_cuda_tests_that_all_skip_fail_a_gpu_run_but_not_a_dry_run() -> None:
    log = "sssssss\n7 skipped, 40 deselected in 3.10s\n"
    assert summary.judge("cuda_tests", 0, 3.1, log).status == "FAIL"
    assert "no CUDA test ran" in summary.judge("cuda_tests", 0, 3.1, log).details
    assert summary.judge("cuda_tests", 0, 3.1, log, dry_run=True).status == "ok"
    assert summary.pytest_counts(log) == {"skipped": 7, "deselected": 40}
    assert summary.pytest_counts("1 failed, 2 passed, 1 error in 9.00s") == {
        "failed": 1,
        "passed": 2,
        "error": 1,
    }


def test_a_compile_check_without_its_line_fails() -> None:
    check = summary.judge("compile", 0, 5.0, "Traceback\n")
    assert check.status == "FAIL" and "no compile_check line" in check.details
    progress = "compile_check_progress hole 1/3: first call 200.0 s, 1 graph(s) compiled so far"
    timed_out = summary.judge("compile", 124, 240.0, progress + "\n")
    assert timed_out.status == "FAIL" and timed_out.details.startswith("timed out after 240 s")
    assert "(last: hole 1/3: first call 200.0 s" in timed_out.details
    good = {"fractions": [0.5], "recompiles": 0, "ok": True}
    assert summary.judge("compile", 0, 5.0, f"compile_check {json.dumps(good)}").status == "ok"


def test_no_steps_is_a_failure(tmp_path: Path) -> None:
    assert summary.main([str(tmp_path)]) == 1
    assert "0 ok, 0 failed, 0 skipped" in (tmp_path / "gpu_check_summary.txt").read_text()
