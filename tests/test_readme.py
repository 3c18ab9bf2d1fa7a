"""The README's commands and examples as a user meets them: the Python example runs as written (on a model file
saved where the README's path points), and the commands and files it names exist."""
import os
import re
from pathlib import Path

import jax

from tifusion.io import provenance
from tifusion.model import dimenet
from tifusion.model.io import save_model

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_the_python_example_runs_as_written(tmp_path, capsys, monkeypatch):
    """The model file at the README's path is a small untrained network, which is no stable potential for MD: the
    loaded model keeps the file's record but computes with the reference EAM, through the same API calls."""
    import tifusion
    from tifusion import api
    from tifusion.reference.eam import zhou2004_ti

    (block,) = python_blocks()
    model_path = re.search(r'tifusion.load\("([^"]+)"\)', block).group(1)
    hyperparameters = dict(dimenet.PAPER_HYPERPARAMETERS, embed_size=8, out_embed_size=8, triplet_embed_size=4,
                           basis_embed_size=4, num_blocks=1)
    potential = dimenet.make_dimenet(hyperparameters)
    save_model(tmp_path / model_path, hyperparameters, potential.init(jax.random.PRNGKey(0)), provenance())
    load = api.load
    monkeypatch.setattr(tifusion, "load", lambda path: api.Model(**{**vars(load(path)), "potential": zhou2004_ti(),
                                                                    "params": None}), raising=False)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(block, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out
    assert "eV/atom" in printed and "eV/Å³" in printed
    assert (tmp_path / "md.traj").stat().st_size > 0


def test_the_shell_commands_the_readme_names_exist():
    from tifusion.cli import parser

    commands = parser()._subparsers._group_actions[0].choices
    for command in re.findall(r"^tifusion (\w+)", README, flags=re.M):
        assert command in commands, command


def test_the_files_and_scripts_the_readme_names_exist():
    for path in re.findall(r"\]\(([\w./-]+)\)", README) + re.findall(r"python (bench/\w+\.py)", README):
        assert (ROOT / path).exists(), path
    for config in re.findall(r"--configfile (config/[\w./-]+\.yaml)", README):
        assert (ROOT / config).exists(), config
