"""The wheel ships every module and config folder (an editable install hides a missing one)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def listed_packages() -> set[str]:
    """``[tool.setuptools] packages`` of pyproject.toml."""
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^packages = \[(.*?)^\]", text, flags=re.S | re.M)
    assert block, "pyproject.toml has no [tool.setuptools] packages list"
    return set(re.findall(r'"([\w.]+)"', block.group(1)))


def shipped_folders() -> set[str]:
    """Every folder below inpaintgan/ and conf/ that holds files (as dotted package names)."""
    names = set()
    for top, package in ((ROOT / "inpaintgan", "inpaintgan"), (ROOT / "conf", "inpaintgan.conf")):
        for folder in [top, *[p for p in top.rglob("*") if p.is_dir()]]:
            if folder.name == "__pycache__" or not any(f.is_file() for f in folder.iterdir()):
                continue
            relative = folder.relative_to(top).parts
            names.add(".".join((package, *relative)))
    return names


def test_every_code_and_config_folder_is_a_listed_package():
    missing = shipped_folders() - listed_packages()
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    assert "inpaintgan.perf" in listed_packages()  # once missing: the bench broke in wheels
