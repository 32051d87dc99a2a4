"""pyproject.toml: every subpackage of clear_vision and the shipped weights go into `pip install .`."""

from __future__ import annotations

import tomllib
from pathlib import Path

from clear_vision.config import DEFAULT_WEIGHTS_DIR

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_and_the_weights_are_packaged():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    found = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "clear_vision").rglob("__init__.py")}
    assert found | {"clear_vision.model_dict"} == set(setuptools["packages"]), "list new subpackages in pyproject.toml"
    assert setuptools["package-dir"]["clear_vision.model_dict"] == "model_dict"
    shipped = {path.name for path in (ROOT / "model_dict").iterdir() if path.suffix in (".safetensors", ".json", ".md")}
    patterns = config["tool"]["setuptools"]["package-data"]["clear_vision.model_dict"]
    assert all(any(Path(name).match(pattern) for pattern in patterns) for name in shipped)
    assert config["project"]["scripts"]["clear-vision"] == "clear_vision.cli:main"


def test_in_the_repository_the_weights_are_found_in_model_dict():
    assert DEFAULT_WEIGHTS_DIR == ROOT / "model_dict" and (DEFAULT_WEIGHTS_DIR / "clear_vision.json").is_file()
