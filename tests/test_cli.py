"""The `tifusion` command on a model file: what it prints and writes, and errors that name the problem."""
import json
import subprocess
import sys
from importlib.metadata import entry_points

import jax
import pytest

from tifusion.io import provenance
from tifusion.model import dimenet
from tifusion.model.io import save_model


def tifusion(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tifusion.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    hyperparameters = dict(dimenet.PAPER_HYPERPARAMETERS, embed_size=8, out_embed_size=8, triplet_embed_size=4,
                           basis_embed_size=4, num_blocks=1)
    path = tmp_path_factory.mktemp("model") / "model.npz"
    save_model(path, hyperparameters, dimenet.make_dimenet(hyperparameters).init(jax.random.PRNGKey(0)),
               provenance({"model": hyperparameters}, seed=5, stage="test"))
    return path


def test_the_command_is_installed_as_a_console_script():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "tifusion"]
    assert script.value == "tifusion.cli:main"


def test_info_prints_the_model_files_record(model_path):
    result = tifusion("info", model_path)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["metadata"]["seed"] == 5 and record["parameters"] > 1000
    assert record["cutoff_angstrom"] == pytest.approx(5.0)


def test_a_missing_model_file_is_named_without_a_traceback(tmp_path):
    result = tifusion("info", tmp_path / "missing.npz")
    assert result.returncode != 0
    assert "missing.npz" in result.stderr and "Traceback" not in result.stderr


def test_md_names_a_structure_of_another_element(model_path, tmp_path):
    from ase.build import bulk

    bulk("Zr", "hcp", a=3.23, c=5.15).repeat((3, 3, 2)).write(tmp_path / "zr.extxyz")
    result = tifusion("md", model_path, "--structure", tmp_path / "zr.extxyz", "-T", 300, "--time", 0.02,
                      "--out", tmp_path / "md.traj")
    assert result.returncode != 0 and "titanium" in result.stderr and "Traceback" not in result.stderr


def test_an_unreadable_structure_file_is_named(model_path, tmp_path):
    (tmp_path / "junk.xyz").write_text("not a structure\n")
    result = tifusion("md", model_path, "--structure", tmp_path / "junk.xyz", "-T", 300, "--time", 0.02)
    assert result.returncode != 0 and "junk.xyz" in result.stderr
