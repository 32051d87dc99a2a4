"""pyproject.toml: every subpackage of clear_vision, the shipped weights and every library it imports go into `pip install .`."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


def _imported_distributions(paths: list[Path]) -> set[str]:
    """The distributions that provide the third-party modules these files import (absolute imports)."""
    modules = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - {"__future__", "clear_vision"}
    providers = packages_distributions()
    missing = third_party - providers.keys()
    assert not missing, f"modules imported by clear_vision that no installed distribution provides: {sorted(missing)}"
    return {canonicalize_name(name) for module in third_party for name in providers[module]}


def _declared(lines: list[str]) -> set[str]:
    """Distributions these requirement lines install by name, with what their extras add (dask[distributed])."""
    names = set()
    for requirement in map(Requirement, lines):
        names.add(canonicalize_name(requirement.name))
        for extra in requirement.extras:
            added = (Requirement(line) for line in requires(requirement.name) or [])
            names.update(canonicalize_name(r.name) for r in added if r.marker is not None and r.marker.evaluate({"extra": extra}))
    return names


def test_every_library_clear_vision_imports_is_a_declared_dependency():
    """A library that is only there as another package's dependency in the dev set-up broke `pip install .` (tqdm)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = _declared(project["dependencies"])
    app = core | _declared(project["optional-dependencies"]["app"])
    library = [path for path in (ROOT / "clear_vision").rglob("*.py") if "webapp" not in path.parts]
    assert _imported_distributions(library) <= core, f"add to [project] dependencies: {sorted(_imported_distributions(library) - core)}"
    webapp = sorted((ROOT / "clear_vision" / "webapp").rglob("*.py"))
    assert _imported_distributions(webapp) <= app, f"add to the app extra: {sorted(_imported_distributions(webapp) - app)}"
