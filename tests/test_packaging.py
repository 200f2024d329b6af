"""The wheel ships every package of the tree, all under the `seal_agent` namespace."""

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Folders at the root of the tree that install under seal_agent (pyproject's package-dir).
INSTALLED_AS = {"tools": "seal_agent.tools", "graphs": "seal_agent.graphs"}


def test_every_package_directory_is_listed_in_pyproject():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = {
        ".".join([INSTALLED_AS.get(top, top), *init.parent.relative_to(ROOT / top).parts])
        for top in ("seal_agent", "tools", "graphs")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found <= listed, f"missing from [tool.setuptools] packages: {sorted(found - listed)}"
    assert setuptools["package-dir"] == {name: folder for folder, name in INSTALLED_AS.items()}


def test_the_wheel_installs_nothing_outside_seal_agent(tmp_path):
    # Built from a copy: setuptools leaves a build/ folder beside the sources it builds.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("seal_agent", "tools", "graphs"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("seal_agent-*.whl"))
    tops = {name.split("/", 1)[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"seal_agent"}
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"seal_agent/tools/base.py", "seal_agent/graphs/arc.py", "seal_agent/presets/smoke.yaml"} <= names
