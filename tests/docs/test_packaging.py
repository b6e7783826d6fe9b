"""``pip install botcap`` claims one import name: sim/, loadtest/ and costmodel/ install as botcap.*.

Built for real (``pip wheel --no-deps``, setuptools from the venv, no network) from a copy of the
packaging files and package folders, so the check does not write build/ into the working tree.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("botcap", "sim", "loadtest", "costmodel")
GENERIC = ("sim", "loadtest", "costmodel")


def test_the_wheel_holds_only_the_botcap_top_level_name(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path / "wheel"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out), str(src)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        top = z.read(next(n for n in names if n.endswith(".dist-info/top_level.txt"))).decode().split()
    assert top == ["botcap"]
    roots = {n.split("/")[0] for n in names}
    assert roots == {"botcap", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    # the folders are inside, under the namespace, with their data files
    for sub in ("botcap/sim/engine.py", "botcap/loadtest/cli.py", "botcap/costmodel/model_facts.yaml",
                "botcap/costmodel/prices_override.yaml", "botcap/scenario/default.yaml"):
        assert sub in names, sub


def test_the_installed_botcap_claims_no_generic_name():
    # the venv's own record (a botcap.egg-info in the working tree could answer for it otherwise)
    purelib = sysconfig.get_paths()["purelib"]
    (dist,) = [d for d in importlib.metadata.distributions(path=[purelib]) if d.metadata["Name"] == "botcap"]
    assert (dist.read_text("top_level.txt") or "").split() == ["botcap"]
    # an editable install (the shared venv, scripts/run.sh) maps names through a generated finder
    for path in Path(purelib).glob("__editable___botcap_*_finder.py"):
        spec = importlib.util.spec_from_file_location("_botcap_finder", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert {k.split(".")[0] for k in module.MAPPING} == {"botcap"}, module.MAPPING
        assert {f"botcap.{g}" for g in GENERIC} <= set(module.MAPPING)
    for name in GENERIC:
        assert importlib.util.find_spec(f"botcap.{name}") is not None, name
