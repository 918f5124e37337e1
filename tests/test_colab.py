"""The Colab launch button: a chapter opened on Google Colab installs hvae from the book's
repository and finds its data.

The first code cell of every chapter does that on Colab, which it recognises by
``google.colab`` in ``sys.modules``, and nothing anywhere else: it clones the repository named
by ``repository.url`` and ``repository.branch`` of ``_config.yml`` (the source of the launch
buttons; ``$HVAE_REPOSITORY`` overrides the URL) into ``~/hvae``, installs it with
``pip install -e`` (and ``myst-nb``, which the chapters' glue needs and Colab lacks), puts the
clone on ``sys.path`` for the running session and changes into its ``chapters/`` folder, where
the chapters find the MNIST subset (``data/``) and the stored results (``data/results/``).

Three tests:

* every chapter opens with the same cell, which names ``_config.yml``'s URL and branch, so the
  cell and the configuration cannot drift apart;
* outside Colab the cell changes nothing (working directory, ``sys.path``, no clone);
* the Colab path itself, without network: the "repository" is a local git repository holding a
  snapshot of this working tree (the files ``git ls-files`` lists, tracked or untracked but not
  ignored: what the next commit would push), served as ``file://`` through
  ``$HVAE_REPOSITORY``; ``google.colab`` is a fake, empty module; ``HOME`` is a temporary
  folder. The cell runs in a subprocess of a throwaway virtual environment that sees this
  environment's packages through a ``.pth`` file (torch and the rest are not reinstalled).
  **Only in this test** pip runs offline through its environment variables:
  ``PIP_NO_INDEX=1``, ``PIP_NO_DEPS=1`` and ``PIP_NO_BUILD_ISOLATION=0``, which is how pip
  spells ``--no-build-isolation`` in the environment (its value feeds the option's negation,
  pypa/pip#5735). On Colab the cell's ``pip install`` resolves and installs the dependencies
  from PyPI. Then the test checks that ``hvae`` is imported from the clone, both in the
  session that ran the cell and in a fresh interpreter (the editable install itself), and that
  ``hvae.data.load_mnist(split="train")`` finds the subset and the stored results are there.
"""

import json
import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import toc  # noqa: E402

NOTEBOOKS = toc.notebooks()


def _first_code_cell(path: Path) -> str:
    nb = nbformat.read(ROOT / path, as_version=4)
    return next(cell.source for cell in nb.cells if cell.cell_type == "code")


COLAB_CELL = _first_code_cell(NOTEBOOKS[0])


def _repository() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]


def test_every_chapter_opens_with_the_colab_cell():
    repository = _repository()
    assert f'"{repository["url"]}"' in COLAB_CELL, "the cell does not clone _config.yml's URL"
    assert f'"--branch={repository["branch"]}"' in COLAB_CELL, (
        "the cell does not clone _config.yml's branch")
    assert '"google.colab" in sys.modules' in COLAB_CELL
    assert not re.search(r"^\s*(import|from)\s+hvae\b", COLAB_CELL, re.MULTILINE), (
        "the cell runs before hvae is installed: it must not import it")
    different = [str(p) for p in NOTEBOOKS if _first_code_cell(p) != COLAB_CELL]
    assert not different, f"first code cell differs from {NOTEBOOKS[0]}'s: {different}"


def _environment(home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HVAE_DATA_DIR", "PYTHONPATH", "HVAE_REPOSITORY")
           and not k.startswith("PIP_")}
    env.update(HOME=str(home), PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def test_the_cell_does_nothing_outside_colab(tmp_path):
    script = ("import json, os, sys\n"
              "before = (os.getcwd(), list(sys.path))\n"
              f"exec(compile({COLAB_CELL!r}, 'colab-cell', 'exec'), {{}})\n"
              "print(json.dumps(before == (os.getcwd(), list(sys.path))))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, env=_environment(tmp_path), check=True, timeout=60)
    assert json.loads(out.stdout) is True
    assert list(tmp_path.iterdir()) == []  # nothing cloned into HOME


def _snapshot(destination: Path) -> str:
    """A git repository (branch main) holding the working tree's files; returns its URL."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, check=True).stdout
    for name in sorted(set(listed.decode().split("\0")) - {""}):
        source = ROOT / name
        if source.is_file():  # a file deleted in the working tree but still in the index: skip
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    git = ["git", "-C", str(destination), "-c", "user.name=test",
           "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run(git + ["init", "-q", "-b", "main"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "snapshot of the working tree"], check=True)
    return destination.resolve().as_uri()


RUN_CELL = """\
import json, os, sys, types
from pathlib import Path
sys.modules["google.colab"] = types.ModuleType("google.colab")  # what the cell looks for
exec(compile({cell!r}, "colab-cell", "exec"), {{}})
import hvae, hvae.data
train = hvae.data.load_mnist(split="train")
results = sorted(p.name for p in (Path.cwd().parent / "data" / "results" / "full").glob("*.json"))
print(json.dumps({{"cwd": os.getcwd(), "hvae": hvae.__file__, "source": train.source,
                  "n": train.n, "results": len(results)}}))
"""

FRESH_SESSION = """\
import json, os, sys, types
import hvae  # before the cell: found through the editable install alone
first = hvae.__file__
sys.modules["google.colab"] = types.ModuleType("google.colab")
exec(compile({cell!r}, "colab-cell", "exec"), {{}})  # again: the clone is there already
print(json.dumps({{"hvae": first, "cwd": os.getcwd()}}))
"""


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_colab_path_installs_hvae_from_the_repository_and_finds_the_data(tmp_path):
    url = _snapshot(tmp_path / "repository")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # this environment's packages (torch, pip, setuptools, myst-nb, ...), but not its hvae:
    # a directory named in a .pth file is added to sys.path without running its own .pth files
    (Path(purelib) / "parent.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    home, content = tmp_path / "home", tmp_path / "content"
    home.mkdir()
    content.mkdir()  # Colab's working directory
    env = _environment(home, HVAE_REPOSITORY=url, PIP_NO_INDEX="1", PIP_NO_DEPS="1",
                       PIP_NO_BUILD_ISOLATION="0")
    clone = home / "hvae"

    ran = subprocess.run([str(python), "-c", RUN_CELL.format(cell=COLAB_CELL)], cwd=content,
                         env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]
    out = json.loads(ran.stdout.strip().splitlines()[-1])
    assert Path(out["cwd"]) == clone / "chapters"
    assert Path(out["hvae"]).is_relative_to(clone)
    assert (out["source"], out["n"]) == ("mnist-5k-subset", 3500)
    assert out["results"] > 0
    assert (clone / "chapters" / NOTEBOOKS[0].name).is_file()

    fresh = subprocess.run([str(python), "-c", FRESH_SESSION.format(cell=COLAB_CELL)],
                           cwd=content, env=env, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    out = json.loads(fresh.stdout.strip().splitlines()[-1])
    assert Path(out["hvae"]).is_relative_to(clone), "pip install -e did not register the clone"
    assert Path(out["cwd"]) == clone / "chapters"
