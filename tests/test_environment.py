"""environment.yml (Binder) must pin the same versions as pyproject.toml."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name where they differ
# test tooling, not needed to read the book
NOT_IN_BINDER = {"pytest", "ruff", "selenium", "hypothesis"}


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    pins = {}
    for req in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^;\s]+)", req.strip())
        if m:
            pins[m[1].lower()] = m[2]
    return pins


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)(==|=)([^=\s]+)(=.*)?", item)
            if m:
                pins[m[1].lower()] = m[3]
    return pins


def test_every_pyproject_pin_is_in_environment_yml_with_the_same_version():
    env = _environment_pins()
    for name, version in _pyproject_pins().items():
        if name in NOT_IN_BINDER:
            continue
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in env, f"{name} is pinned in pyproject.toml but not in environment.yml"
        assert env[conda_name] == version, f"{name}: pyproject {version}, environment.yml "\
            f"{env[conda_name]}"


def test_torch_version_matches_the_makefile_default():
    makefile = (ROOT / "Makefile").read_text()
    torch_pin = re.search(r"TORCH_SPEC \?= torch==(\S+)", makefile)[1]
    assert _environment_pins()["pytorch"] == torch_pin


def test_binder_installs_hvae_from_the_repo_and_uses_python_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    assert "pip" in env["dependencies"]  # postBuild needs pip inside the conda environment
    post_build = (ROOT / "postBuild").read_text()
    assert re.search(r"^python -m pip install --no-deps -e \.$", post_build, re.M)
    assert env["channels"] == ["conda-forge"]
