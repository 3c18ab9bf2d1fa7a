"""Model files: round trip, and errors that name the file and the key."""
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tifusion import units
from tifusion.calculator import PotentialCalculator
from tifusion.graph import build_graph, image_range
from tifusion.io import provenance
from tifusion.model.io import load_calculator, load_model, save_model
from tifusion.structures import hcp_supercell, to_atoms


@pytest.fixture(scope="module")
def saved(tmp_path_factory, small_model_f32):
    potential, params, hyperparameters = small_model_f32
    # Perturb every parameter so that a mix-up between entries would show in the energy.
    rng = np.random.default_rng(4)
    params = jax.tree.map(lambda x: x + 0.1 * rng.standard_normal(x.shape), params)
    path = tmp_path_factory.mktemp("model") / "model.npz"
    save_model(path, hyperparameters, params, provenance({"model": hyperparameters}, seed=3, stage="test"))
    return path, potential, params, hyperparameters


def test_round_trip_gives_identical_energies(saved, evaluate):
    path, potential, params, hyperparameters = saved
    loaded, loaded_params, loaded_hyperparameters, metadata = load_model(path)
    assert loaded_hyperparameters == hyperparameters
    assert loaded is potential  # same configuration, same Potential: compiled functions are reused
    assert metadata["seed"] == 3 and metadata["stage"] == "test" and "git_commit" in metadata
    positions, box = hcp_supercell(0.295125, 0.467942, (2, 2, 2))
    positions, box = jnp.asarray(positions), jnp.asarray(box)
    graph = build_graph(positions, box, 0.5, 40, image_range(box, 0.5))
    e1, f1, w1 = evaluate(potential, params, positions, box, graph)
    e2, f2, w2 = evaluate(loaded, loaded_params, positions, box, graph)
    assert float(e1) == float(e2)
    assert np.array_equal(f1, f2) and np.array_equal(w1, w2)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        load_model(tmp_path / "nothing.npz")


def test_corrupt_file_is_named(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="broken.npz"):
        load_model(path)


def rewrite_without(source, target, drop=(), replace=None):
    with np.load(source) as data:
        contents = {k: data[k] for k in data.files if k not in drop}
    contents.update(replace or {})
    np.savez(target, **contents)


def test_missing_entries_are_named(saved, tmp_path):
    path = saved[0]
    with np.load(path) as data:
        a_parameter = next(k for k in data.files if k.startswith("params::"))
    for key in ("hyperparameters", "metadata", a_parameter):
        target = tmp_path / "partial.npz"
        rewrite_without(path, target, drop=(key,))
        with pytest.raises(KeyError, match=re.escape(key)):
            load_model(target)


def test_inconsistent_hyperparameters_are_reported(saved, tmp_path):
    path, _, _, hyperparameters = saved
    target = tmp_path / "mismatch.npz"
    changed = dict(hyperparameters, embed_size=10)
    rewrite_without(path, target, replace={"hyperparameters": np.array(json.dumps(changed))})
    with pytest.raises(ValueError, match="mismatch.npz.*shape"):
        load_model(target)
    bad = dict(hyperparameters, num_blocks=-2)
    rewrite_without(path, target, replace={"hyperparameters": np.array(json.dumps(bad))})
    with pytest.raises(ValueError, match="num_blocks"):
        load_model(target)


def test_calculator_matches_the_model(saved, evaluate):
    path, potential, params, _ = saved
    positions, box = hcp_supercell(0.295125, 0.467942, (2, 2, 2))
    positions = positions + 0.01 * np.random.default_rng(0).standard_normal(positions.shape)
    atoms = to_atoms(positions, box)
    atoms.calc = load_calculator(path)
    assert isinstance(atoms.calc, PotentialCalculator)
    positions, box = jnp.asarray(positions), jnp.asarray(box)
    graph = build_graph(positions, box, 0.5, 40, image_range(box, 0.5))
    e, forces, virial = evaluate(potential, params, positions, box, graph)
    assert atoms.get_potential_energy() == pytest.approx(float(e) / units.EV, rel=1e-6)
    np.testing.assert_allclose(atoms.get_forces(), np.asarray(forces) / units.EV_PER_ANGSTROM, rtol=1e-5, atol=1e-7)
    stress = -np.asarray(virial) / abs(np.linalg.det(np.asarray(box))) * units.ANGSTROM**3 / units.EV
    np.testing.assert_allclose(atoms.get_stress(voigt=False), stress, rtol=1e-5, atol=1e-9)
