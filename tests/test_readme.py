"""The README's commands and examples as a user meets them: the Python example runs as written (on a small model
saved where the README's path points), and the commands it names exist."""
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


def test_the_python_example_runs_as_written(tmp_path, capsys):
    (block,) = python_blocks()
    model_path = re.search(r'load_calculator\("([^"]+)"\)', block).group(1)
    hyperparameters = dict(dimenet.PAPER_HYPERPARAMETERS, embed_size=8, out_embed_size=8, triplet_embed_size=4,
                           basis_embed_size=4, num_blocks=1)
    potential = dimenet.make_dimenet(hyperparameters)
    save_model(tmp_path / model_path, hyperparameters, potential.init(jax.random.PRNGKey(0)), provenance())
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(block, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out
    assert "eV/atom" in printed and "eV/Å³" in printed


def test_the_files_and_scripts_the_readme_names_exist():
    for path in re.findall(r"\]\(([\w./-]+)\)", README) + re.findall(r"python (bench/\w+\.py)", README):
        assert (ROOT / path).exists(), path
    for config in re.findall(r"--configfile (config/[\w./-]+\.yaml)", README):
        assert (ROOT / config).exists(), config
