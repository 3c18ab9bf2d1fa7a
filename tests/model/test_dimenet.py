"""DimeNet++ on the dense periodic graph: architecture, invariances, derivatives, masking.

Physics checks run with a small float64 model (fast to compile, exact enough for finite
differences); the architecture checks use the paper configuration.
"""
import itertools

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from tifusion.graph import build_graph, displacements, image_range
from tifusion.model import dimenet
from tifusion.model.basis import envelope, sbf_radial, spherical_basis_radial
from tifusion.potential import energy, energy_and_forces, energy_forces_virial
from tifusion.structures import hcp_supercell

A, C = 0.295125, 0.467942
SMALL = dict(dimenet.PAPER_HYPERPARAMETERS, embed_size=8, out_embed_size=12, triplet_embed_size=6,
             basis_embed_size=4, num_blocks=2, num_radial=5, num_spherical=4, num_residual_after_skip=1,
             num_dense_output=2, dtype="float64")


# Jitted once per shape (eager evaluation of the model is op-by-op and slow).
energy = jax.jit(energy, static_argnums=0)
energy_and_forces = jax.jit(energy_and_forces, static_argnums=0)
energy_forces_virial = jax.jit(energy_forces_virial, static_argnums=0)
build_graph = jax.jit(build_graph, static_argnums=(2, 3, 4))


@pytest.fixture(scope="module")
def small_model():
    potential = dimenet.make_dimenet(SMALL)
    return potential, potential.init(jax.random.PRNGKey(42))


@pytest.fixture(scope="module")
def paper_model():
    potential = dimenet.make_dimenet(dimenet.PAPER_HYPERPARAMETERS)
    return potential, potential.init(jax.random.PRNGKey(0))


def perturbed_hcp(repeat, seed=0, amplitude=0.01):
    positions, box = hcp_supercell(A, C, repeat)
    rng = np.random.default_rng(seed)
    return positions + amplitude * rng.standard_normal(positions.shape), box


def graph_for(positions, box, cutoff, spare=0):
    """A graph with capacity = largest neighbour count + spare (never truncated)."""
    n_images = image_range(box, cutoff)
    probe = build_graph(jnp.asarray(positions), jnp.asarray(box), cutoff, 1, n_images)
    return build_graph(jnp.asarray(positions), jnp.asarray(box), cutoff, int(probe.max_neighbors) + spare, n_images)


def total_energy(model, positions, box, spare=0):
    potential, params = model
    graph = graph_for(positions, box, potential.cutoff, spare)
    return float(energy(potential, params, jnp.asarray(positions), jnp.asarray(box), graph))


# ---------------------------------------------------------------- architecture


def test_paper_configuration_has_121542_parameters():
    potential = dimenet.make_dimenet(dimenet.PAPER_HYPERPARAMETERS)
    params = jax.eval_shape(potential.init, jax.random.PRNGKey(0))
    assert dimenet.parameter_count(params) == 121542
    assert sum(1 for module in params if "output_block" in module and module.endswith("atom_energy")) == 5
    assert sum(1 for module in params if module.count("/") == 1 and "interaction_block" in module) == 4


def test_initialisation_follows_the_paper(paper_model):
    _, params = paper_model
    for module, values in params.items():
        for name, value in values.items():
            value = np.asarray(value)
            assert value.dtype == np.float32, (module, name)
            if name == "b":
                assert np.all(value == 0), module
            elif value.ndim == 2 and name != "type_embedding":
                fan_in, fan_out = value.shape
                assert np.var(value) == pytest.approx(1 / (fan_in + fan_out), rel=1e-4), (module, name)
                gram = value.T @ value if fan_in >= fan_out else value @ value.T  # (semi-)orthogonal
                np.testing.assert_allclose(gram / gram[0, 0], np.eye(len(gram)), atol=1e-5)
    table = np.asarray(params["dimenet_pp/embedding_block"]["type_embedding"])
    assert table.shape == (10, 16) and np.all(np.abs(table) <= np.sqrt(3)) and np.std(table) > 0.8
    np.testing.assert_allclose(params["dimenet_pp"]["rbf_frequencies"], np.pi * np.arange(1, 7), rtol=1e-6)


@pytest.mark.parametrize("key, value", [("num_blocks", -1), ("embed_size", 7), ("dtype", "float16"),
                                        ("cutoff_nm", 5.0), ("num_radial", 2.5)])
def test_bad_hyperparameters_name_the_key(key, value):
    with pytest.raises(ValueError, match=key):
        dimenet.make_dimenet(dict(dimenet.PAPER_HYPERPARAMETERS, **{key: value}))


def test_missing_hyperparameter_is_named():
    hp = dict(dimenet.PAPER_HYPERPARAMETERS)
    del hp["num_spherical"]
    with pytest.raises(KeyError, match="num_spherical"):
        dimenet.make_dimenet(hp)


def test_float32_model_computes_in_float32_under_x64(paper_model):
    potential, params = paper_model
    positions, box = perturbed_hcp((2, 2, 2))
    graph = graph_for(positions, box, potential.cutoff)
    d = displacements(jnp.asarray(positions), jnp.asarray(box), graph)
    jaxpr = jax.make_jaxpr(potential.atom_energies)(params, d, graph)

    def heavy_f64_ops(jaxpr):
        for eqn in jaxpr.eqns:
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                yield from heavy_f64_ops(sub)
            if eqn.primitive.name in ("dot_general", "logistic", "sin", "exp", "tanh"):
                if any(v.aval.dtype == jnp.float64 for v in eqn.invars):
                    yield eqn.primitive.name

    assert list(heavy_f64_ops(jaxpr.jaxpr)) == []
    e32 = energy(potential, params, jnp.asarray(positions), jnp.asarray(box), graph)
    assert e32.dtype == jnp.float64  # summed in the caller's precision
    e64 = energy(dimenet.make_dimenet(dict(dimenet.PAPER_HYPERPARAMETERS, dtype="float64")), params,
                 jnp.asarray(positions), jnp.asarray(box), graph)
    assert float(e32) == pytest.approx(float(e64), rel=1e-5)


# ---------------------------------------------------------------- invariances


def test_energy_is_invariant_under_rotation_translation_permutation_and_image(small_model):
    positions, box = perturbed_hcp((2, 2, 2))  # small cell: explicit periodic images
    reference = total_energy(small_model, positions, box)
    assert np.isfinite(reference) and abs(reference) > 1e-3

    rotation, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))
    assert total_energy(small_model, positions @ rotation.T, rotation @ box) == pytest.approx(reference, rel=1e-12)
    assert total_energy(small_model, positions + np.array([0.13, -0.4, 2.2]), box) == pytest.approx(reference,
                                                                                                     rel=1e-12)
    permutation = np.random.default_rng(2).permutation(len(positions))
    assert total_energy(small_model, positions[permutation], box) == pytest.approx(reference, rel=1e-12)
    moved = positions.copy()
    moved[3] += box[:, 0] - 2 * box[:, 2]
    assert total_energy(small_model, moved, box) == pytest.approx(reference, rel=1e-12)


def test_small_cell_with_images_equals_its_supercell_per_atom(small_model):
    positions, box = perturbed_hcp((2, 2, 2))
    offsets = np.array(list(itertools.product(range(2), repeat=3))) @ box.T
    super_positions = (positions[None] + offsets[:, None]).reshape(-1, 3)
    super_box = 2 * box
    assert image_range(box, SMALL["cutoff_nm"]) is not None and image_range(super_box, SMALL["cutoff_nm"]) is None
    small = total_energy(small_model, positions, box) / len(positions)
    large = total_energy(small_model, super_positions, super_box) / len(super_positions)
    assert small == pytest.approx(large, rel=1e-12)


# ---------------------------------------------------------------- derivatives


def test_forces_and_virial_match_central_finite_differences(small_model):
    potential, params = small_model
    positions, box = perturbed_hcp((2, 2, 2), seed=3)
    positions, box = jnp.asarray(positions), jnp.asarray(box)
    graph = graph_for(positions, box, potential.cutoff)
    e, forces, virial = energy_forces_virial(potential, params, positions, box, graph)
    h = 1e-5
    for atom, axis in [(0, 0), (5, 1), (11, 2)]:
        step = jnp.zeros_like(positions).at[atom, axis].set(h)
        fd = -(energy(potential, params, positions + step, box, graph)
               - energy(potential, params, positions - step, box, graph)) / (2 * h)
        assert float(forces[atom, axis]) == pytest.approx(float(fd), rel=1e-6, abs=1e-8)
    for a, b in [(0, 0), (2, 2), (0, 1), (1, 2)]:
        strain = jnp.zeros((3, 3)).at[a, b].set(h)
        fd = -(energy(potential, params, positions, box, graph, strain)
               - energy(potential, params, positions, box, graph, -strain)) / (2 * h)
        assert float(virial[a, b]) == pytest.approx(float(fd), rel=1e-6, abs=1e-8)
    np.testing.assert_allclose(virial, virial.T, atol=1e-10)  # rotation invariance
    np.testing.assert_allclose(jnp.sum(forces, axis=0), 0, atol=1e-10)  # translation invariance


def test_collinear_triplets_have_finite_smooth_forces(small_model):
    # Simple cubic, a = 0.24 nm: neighbours at +-a along each axis are collinear (theta = pi).
    potential, params = small_model
    positions = 0.24 * np.array(list(itertools.product(range(3), repeat=3)), dtype=float)
    box = 0.72 * np.eye(3)
    positions[4] += [0.0, 0.0, 1e-3]  # exactly collinear triplets remain around the other atoms
    positions, box = jnp.asarray(positions), jnp.asarray(box)
    graph = graph_for(positions, box, potential.cutoff)
    _, forces = energy_and_forces(potential, params, positions, box, graph)
    assert np.all(np.isfinite(forces))
    h = 1e-5
    step = jnp.zeros_like(positions).at[13, 0].set(h)
    fd = -(energy(potential, params, positions + step, box, graph)
           - energy(potential, params, positions - step, box, graph)) / (2 * h)
    assert float(forces[13, 0]) == pytest.approx(float(fd), rel=1e-5, abs=1e-8)


# ---------------------------------------------------------------- masking


def test_extra_capacity_does_not_change_energy_or_forces(small_model):
    potential, params = small_model
    positions, box = perturbed_hcp((4, 4, 3))
    positions, box = jnp.asarray(positions), jnp.asarray(box)
    tight = graph_for(positions, box, potential.cutoff)
    loose = graph_for(positions, box, potential.cutoff, spare=12)
    e1, f1 = energy_and_forces(potential, params, positions, box, tight)
    e2, f2 = energy_and_forces(potential, params, positions, box, loose)
    assert float(e1) == pytest.approx(float(e2), rel=1e-13)
    np.testing.assert_allclose(f1, f2, rtol=1e-10, atol=1e-12)


def test_padding_atoms_contribute_nothing(small_model):
    potential, params = small_model
    positions, box = perturbed_hcp((2, 2, 2))
    padding = np.random.default_rng(5).uniform(0, 0.5, (3, 3))  # anywhere, even overlapping real atoms
    padded = jnp.asarray(np.concatenate([positions, padding]))
    atom_mask = jnp.arange(len(padded)) < len(positions)
    n_images = image_range(box, potential.cutoff)
    graph = build_graph(padded, jnp.asarray(box), potential.cutoff, 60, n_images, atom_mask)
    e, forces = energy_and_forces(potential, params, padded, jnp.asarray(box), graph)
    e_ref, forces_ref = energy_and_forces(potential, params, jnp.asarray(positions), jnp.asarray(box),
                                          graph_for(positions, box, potential.cutoff))
    assert float(e) == pytest.approx(float(e_ref), rel=1e-12)
    np.testing.assert_allclose(forces[: len(positions)], forces_ref, rtol=1e-9, atol=1e-12)
    assert np.all(forces[len(positions):] == 0)


def test_truncated_graph_gives_nan_not_a_wrong_energy(small_model):
    potential, params = small_model
    positions, box = perturbed_hcp((4, 4, 3))
    full = graph_for(positions, box, potential.cutoff)
    truncated = build_graph(jnp.asarray(positions), jnp.asarray(box), potential.cutoff,
                            int(full.max_neighbors) - 3)
    assert np.isnan(float(energy(potential, params, jnp.asarray(positions), jnp.asarray(box), truncated)))


# ---------------------------------------------------------------- triplet aggregation


def slow_triplet_sum(kj_features, d, graph, basis, cutoff, w_sbf1, w_sbf2):
    """For edge j->i (row i, slot a): sum over k->j (row j, slot b), k->j not the reverse of j->i,
    of kj_features[j, b] * (W2 W1 a(d_kj, theta_kji)), with the plain 42-component basis."""
    idx, shift, mask = (np.asarray(x) for x in (graph.idx, graph.shift, graph.mask))
    d, kj_features = np.asarray(d), np.asarray(kj_features)
    num_spherical, num_radial = basis.zeros.shape
    orders = np.arange(num_spherical)
    out = np.zeros_like(kj_features)
    n_triplets = 0
    for i, a in zip(*np.nonzero(mask)):
        j = idx[i, a]
        for b in np.nonzero(mask[j])[0]:
            if idx[j, b] == i and np.all(shift[j, b] == -shift[i, a]):
                continue  # the back-edge: k is the same image of i
            n_triplets += 1
            r_ji, r_kj = -d[i, a], d[j, b]  # r_i - r_j and r_k - r_j
            cos = r_ji @ r_kj / (np.linalg.norm(r_ji) * np.linalg.norm(r_kj))
            x = np.linalg.norm(r_kj) / cutoff
            radial = basis.normalizers * special.spherical_jn(orders[:, None], basis.zeros * x) * float(envelope(x, 6))
            angular = np.sqrt((2 * orders + 1) / (4 * np.pi)) * special.eval_legendre(orders, cos)
            sbf = (radial * angular[:, None]).reshape(-1)
            out[i, a] += kj_features[j, b] * (sbf @ w_sbf1 @ w_sbf2)
    return out, n_triplets


def test_fast_triplet_aggregation_equals_the_plain_triplet_sum():
    positions, box = perturbed_hcp((2, 2, 1), seed=7, amplitude=0.02)  # 8 atoms: i is seen as several images
    cutoff = 0.5
    graph = graph_for(positions, box, cutoff, spare=3)
    d = displacements(jnp.asarray(positions), jnp.asarray(box), graph)
    basis = spherical_basis_radial(7, 6)
    rng = np.random.default_rng(0)
    kj_features = jnp.asarray(rng.standard_normal(graph.mask.shape + (5,))) * graph.mask[..., None]
    w_sbf1 = rng.standard_normal((42, 8))
    w_sbf2 = rng.standard_normal((8, 5))

    expected, n_triplets = slow_triplet_sum(kj_features, d, graph, basis, cutoff, w_sbf1, w_sbf2)
    n_edges = int(graph.mask.sum())
    counts = np.asarray(graph.mask.sum(axis=1))
    assert n_triplets == sum(counts[j] - 1 for j in np.asarray(graph.idx)[np.asarray(graph.mask)])
    assert n_edges > len(positions) * 8  # many images of few atoms

    distance, unit = dimenet.edge_geometry(d, graph.mask, cutoff)
    reverse, found = dimenet.reverse_slots(graph)
    assert bool(jnp.all(found | ~graph.mask))
    got = dimenet.aggregate_triplets(kj_features, sbf_radial(distance, basis, cutoff, 6),
                                     dimenet.triplet_angular_basis(unit, graph.mask, 7), graph.idx, reverse,
                                     jnp.asarray(w_sbf1), jnp.asarray(w_sbf2))
    got = np.where(np.asarray(graph.mask)[..., None], np.asarray(got), 0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())
