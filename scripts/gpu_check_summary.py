"""The summary of scripts/gpu_check.sh: one line per check (ok / FAIL / skip, seconds, key
numbers) read from the steps' logs. Standard library only, so it runs even when the install
step failed.

    python scripts/gpu_check_summary.py LOG_DIR [OUT_DIR]

``LOG_DIR/steps.tsv`` holds one ``name<TAB>exit status<TAB>seconds`` row per step (exit
status 124 = timed out, 99 = skipped, with the reason in the log) and ``LOG_DIR/<name>.log``
its output. Lines ``gpu_check: ...`` in a log are key numbers the script printed itself;
pytest's result line, the bench's JSON (``wrote PATH``) and the compile check's
``compile_check {json}`` line are read as well. Prints the summary and writes
``gpu_check_summary.txt`` and ``.json`` to ``OUT_DIR`` (default ``LOG_DIR``). Exit status 1
when any check failed.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

SKIPPED = 99
TIMED_OUT = (124, 137)
MARK = "gpu_check:"


@dataclass
class Check:
    """One step's verdict."""

    name: str
    status: str  # ok | FAIL | skip
    seconds: float
    details: str

    def line(self) -> str:
        return f"{self.status:<4} {self.name:<12} {self.seconds:7.1f} s  {self.details}".rstrip()


def marked_lines(log: str) -> list[str]:
    """The ``gpu_check: ...`` lines of a log, without the marker."""
    return [line.split(MARK, 1)[1].strip() for line in log.splitlines() if MARK in line]


def pytest_counts(log: str) -> dict[str, int]:
    """Counts of pytest's last result line (``3 passed, 1 skipped in 2.1s``)."""
    lines = [
        line
        for line in log.splitlines()
        if re.search(r"\b(passed|failed|skipped|error|errors|deselected)\b", line)
        and re.search(r"\bin [\d.]+s\b", line)
    ]
    if not lines:
        return {}
    counts: dict[str, int] = {}
    for number, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", lines[-1]):
        counts["error" if word.startswith("error") else word] = int(number)
    return counts


def bench_details(log: str) -> str:
    """Key numbers of the bench's JSON (the ``wrote PATH`` line of its log)."""
    paths = re.findall(r"^wrote (\S+\.json)\s*$", log, re.MULTILINE)
    if not paths or not Path(paths[-1]).is_file():
        return "no bench JSON"
    data = json.loads(Path(paths[-1]).read_text())
    parts = []
    for name in ("train_step", "forward", "generator_step"):
        entry = data.get(name) or {}
        if "ms_per_image" not in entry:
            continue
        rate = entry.get("images_per_s", 0)
        text = f"{name} {entry['ms_per_image']:.2f} ms/img ({rate:.0f} img/s"
        spec, measured = entry.get("mfu_spec"), entry.get("mfu_measured")
        if measured is not None:
            text += f", MFU {_pct(spec)} spec / {_pct(measured)} measured"
        if entry.get("peak_memory_bytes"):
            text += f", {entry['peak_memory_bytes'] / 2**30:.1f} GiB"
        parts.append(text + ")")
    peak = data.get("peak")
    if peak:
        spec = peak.get("spec", {})
        where = spec.get("gpu") or "n/a"
        spec_rate = f" {_rate(spec['flops_per_s'])}" if spec.get("flops_per_s") else ""
        parts.append(
            f"peak {peak.get('math')}: measured {_rate(peak['measured']['flops_per_s'])}, "
            f"spec {where}{spec_rate}"
        )
    return "; ".join(parts) or "no timed rows"


def _rate(flops_per_s: float) -> str:
    if flops_per_s >= 1e12:
        return f"{flops_per_s / 1e12:.1f} TFLOP/s"
    return f"{flops_per_s / 1e9:.1f} GFLOP/s"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def compile_details(log: str) -> tuple[str, bool]:
    """Key numbers of the ``compile_check {json}`` line, and whether it passed."""
    lines = [line for line in log.splitlines() if line.startswith("compile_check ")]
    if not lines:
        progress = [line for line in log.splitlines() if line.startswith("compile_check_progress")]
        last = f" (last: {progress[-1].split(' ', 1)[1]})" if progress else ""
        return f"no compile_check line{last}", False
    data = json.loads(lines[-1].split(" ", 1)[1])
    text = f"recompiles={data.get('recompiles')} over {len(data.get('fractions', []))} hole sizes"
    if "error" in data:
        text += f"; {data['error']}"
    if "compiled_median_ms" in data:
        text += (
            f"; generator step eager {data['eager_median_ms']:.1f} ms, compiled "
            f"{data['compiled_median_ms']:.1f} ms ({data['speedup']:.2f}x); first calls "
            f"{', '.join(f'{s:.1f}' for s in data.get('first_call_s', []))} s"
        )
    return text, bool(data.get("ok"))


def judge(name: str, code: int, seconds: float, log: str, dry_run: bool = False) -> Check:
    """The verdict and key numbers of one step."""
    marked = marked_lines(log)
    if code == SKIPPED:
        return Check(name, "skip", seconds, "; ".join(marked) or "skipped")
    status = "ok" if code == 0 else "FAIL"
    details = list(marked)
    if code in TIMED_OUT:
        details.insert(0, f"timed out after {seconds:.0f} s")
    elif code != 0:
        tail = [line.strip() for line in log.splitlines() if line.strip()]
        details.insert(0, f"exit {code}" + (f": {tail[-1][:200]}" if tail else ""))
    if name == "cuda_tests":
        counts = pytest_counts(log)
        shown = ", ".join(f"{v} {k}" for k, v in counts.items()) or "no pytest result line"
        details.insert(0, shown)
        if code == 0 and not dry_run and counts.get("passed", 0) == 0:
            status = "FAIL"
            details.insert(0, "no CUDA test ran")
    elif name == "bench" and code == 0:
        details.append(bench_details(log))
    elif name == "compile":
        text, passed = compile_details(log)
        details.append(text)
        if not passed:
            status = "FAIL"
    return Check(name, status, seconds, "; ".join(details))


def summarise(log_dir: Path, dry_run: bool = False) -> list[Check]:
    """The verdict of every step listed in ``log_dir/steps.tsv``, in order."""
    checks = []
    table = log_dir / "steps.tsv"
    rows = table.read_text().splitlines() if table.is_file() else []
    for row in rows:
        if not row.strip():
            continue
        name, code, seconds = row.split("\t")[:3]
        log_file = log_dir / f"{name}.log"
        log = log_file.read_text(errors="replace") if log_file.is_file() else ""
        checks.append(judge(name, int(code), float(seconds), log, dry_run))
    return checks


def render(checks: list[Check], header: str = "") -> str:
    """The printed summary: a header, one line per check, a total line."""
    failed = [c.name for c in checks if c.status == "FAIL"]
    counts = {s: sum(c.status == s for c in checks) for s in ("ok", "FAIL", "skip")}
    lines = [header] if header else []
    lines += [c.line() for c in checks]
    total = sum(c.seconds for c in checks)
    verdict = f"FAILED: {', '.join(failed)}" if failed else "all ran checks passed"
    lines.append(
        f"gpu_check: {counts['ok']} ok, {counts['FAIL']} failed, {counts['skip']} skipped "
        f"in {total:.0f} s: {verdict}"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    log_dir = Path(argv[0])
    out_dir = Path(argv[1]) if len(argv) > 1 else log_dir
    header_file = log_dir / "header.txt"
    header = header_file.read_text().strip() if header_file.is_file() else ""
    dry_run = "dry run" in header
    checks = summarise(log_dir, dry_run)
    text = render(checks, header)
    print(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gpu_check_summary.txt").write_text(text + "\n")
    document = {"header": header, "checks": [asdict(c) for c in checks]}
    (out_dir / "gpu_check_summary.json").write_text(json.dumps(document, indent=2) + "\n")
    return 1 if any(c.status == "FAIL" for c in checks) or not checks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
