"""The installed names: one import namespace over the project's top-level folders."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from conftest import ROOT

LAYERS = ("circuits", "models", "calibration", "training", "ngspice")


def test_installed_names_import_from_outside_the_source_tree(tmp_path):
    code = (
        "import importlib, pathlib, anamorph\n"
        f"for layer in {LAYERS!r}:\n"
        "    m = importlib.import_module('anamorph.' + layer)\n"
        "    print(layer, pathlib.Path(m.__file__).parent.name)\n"
        "from anamorph.cli import main\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    folders = dict(line.split() for line in proc.stdout.splitlines())
    assert folders == {layer: layer for layer in LAYERS}


def test_wheel_maps_folders_into_the_namespace(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("anamorph-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for layer in LAYERS:
        assert f"anamorph/{layer}/__init__.py" in names
    assert "anamorph/cli.py" in names and "anamorph/ngspice/build.sh" in names
    for data in (
        "circuits/gated_synapse/gated_synapse.va",
        "circuits/tstdp/fitted.json",
        "models/data/process_default.json",
        "models/brian_templates/stateupdate.pyx",
        "models/brian_templates/threshold.pyx",
        "models/brian_templates/simd_common.pyx",
        "models/brian_templates/synapses.pyx",
        "models/brian_templates/synapses_push_spikes.pyx",
    ):
        assert f"anamorph/{data}" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "anamorph = anamorph.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
