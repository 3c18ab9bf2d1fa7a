"""DimeNet++ on the dense periodic graph: architecture, invariances, derivatives, masking.

Physics checks use the small float64 model of conftest.py (same layer structure, fast to
compile, exact enough for finite differences); graphs share one capacity so that few shapes
are compiled. The parameter count uses the paper configuration.
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
from tifusion.structures import hcp_supercell

A, C = 0.295125, 0.467942
CAPACITY = 40  # enough for every test structure below (checked), so most share one compiled shape
build_graph = jax.jit(build_graph, static_argnums=(2, 3, 4))


def perturbed_hcp(repeat, seed=0, amplitude=0.01):
    positions, box = hcp_supercell(A, C, repeat)
    rng = np.random.default_rng(seed)
    return jnp.asarray(positions + amplitude * rng.standard_normal(positions.shape)), jnp.asarray(box)


def graph_for(positions, box, cutoff, capacity=CAPACITY, atom_mask=None):
    graph = build_graph(jnp.asarray(positions), jnp.asarray(box), cutoff, capacity,
                        image_range(np.asarray(box), cutoff), atom_mask)
    assert int(graph.max_neighbors) <= capacity
    return graph


def total_energy(evaluate, model, positions, box):
    potential, params, _ = model
    positions, box = jnp.asarray(positions), jnp.asarray(box)
    return float(evaluate(potential, params, positions, box, graph_for(positions, box, potential.cutoff))[0])


# ---------------------------------------------------------------- architecture


def test_paper_configuration_has_121542_parameters():
    potential = dimenet.make_dimenet(dimenet.PAPER_HYPERPARAMETERS)
    params = jax.eval_shape(potential.init, jax.random.PRNGKey(0))
    assert dimenet.parameter_count(params) == 121542
    assert sum(1 for module in params if "output_block" in module and module.endswith("atom_energy")) == 5
    assert sum(1 for module in params if module.count("/") == 1 and "interaction_block" in module) == 4


def test_initialisation_follows_the_paper(small_model):
    _, params, hp = small_model
    n_weights = 0
    for module, values in params.items():
        for name, value in values.items():
            value = np.asarray(value)
            if name == "b":
                assert np.all(value == 0), module
            elif value.ndim == 2 and name != "type_embedding":
                n_weights += 1
                fan_in, fan_out = value.shape
                assert np.var(value) == pytest.approx(1 / (fan_in + fan_out), rel=1e-10), (module, name)
                gram = value.T @ value if fan_in >= fan_out else value @ value.T  # (semi-)orthogonal
                np.testing.assert_allclose(gram / gram[0, 0], np.eye(len(gram)), atol=1e-10)
    assert n_weights > 30
    table = np.asarray(params["dimenet_pp/embedding_block"]["type_embedding"])
    assert table.shape == (10, hp["embed_size"] // 2) and np.all(np.abs(table) <= np.sqrt(3))
    np.testing.assert_allclose(params["dimenet_pp"]["rbf_frequencies"], np.pi * np.arange(1, hp["num_radial"] + 1))


def test_parameters_have_the_computation_dtype():
    potential = dimenet.make_dimenet(dict(dimenet.PAPER_HYPERPARAMETERS, num_blocks=1))
    assert {leaf.dtype for leaf in jax.tree.leaves(jax.eval_shape(potential.init, jax.random.PRNGKey(0)))} == {
        jnp.dtype("float32")}


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


@pytest.mark.slow
def test_float32_model_computes_in_float32_under_x64(small_model, small_model_f32, evaluate):
    potential, params, _ = small_model_f32
    positions, box = perturbed_hcp((2, 2, 2))
    graph = graph_for(positions, box, potential.cutoff)
    d = displacements(positions, box, graph)
    jaxpr = jax.make_jaxpr(potential.atom_energies)(params, d, graph)

    def heavy_f64_ops(jaxpr):
        for eqn in jaxpr.eqns:
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                yield from heavy_f64_ops(sub)
            if eqn.primitive.name in ("dot_general", "logistic", "sin", "exp", "tanh"):
                if any(v.aval.dtype == jnp.float64 for v in eqn.invars):
                    yield eqn.primitive.name

    assert list(heavy_f64_ops(jaxpr.jaxpr)) == []
    e32, f32, _ = evaluate(potential, params, positions, box, graph)
    assert e32.dtype == jnp.float64 and f32.dtype == jnp.float64  # returned in the caller's precision
    e64, f64, _ = evaluate(small_model[0], params, positions, box, graph)
    assert float(e32) == pytest.approx(float(e64), rel=1e-5)
    np.testing.assert_allclose(f32, f64, atol=1e-4 * float(jnp.max(jnp.abs(f64))))


# ---------------------------------------------------------------- invariances


def test_energy_is_invariant_under_rotation_translation_permutation_and_image(small_model, evaluate):
    positions, box = perturbed_hcp((2, 2, 2))  # small cell: explicit periodic images
    reference = total_energy(evaluate, small_model, positions, box)
    assert np.isfinite(reference) and abs(reference) > 1e-3

    rotation, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))
    rotated = total_energy(evaluate, small_model, positions @ rotation.T, rotation @ box)
    assert rotated == pytest.approx(reference, rel=1e-12)
    translated = total_energy(evaluate, small_model, positions + jnp.array([0.13, -0.4, 2.2]), box)
    assert translated == pytest.approx(reference, rel=1e-12)
    permutation = np.random.default_rng(2).permutation(len(positions))
    assert total_energy(evaluate, small_model, positions[permutation], box) == pytest.approx(reference, rel=1e-12)
    moved = positions.at[3].add(box[:, 0] - 2 * box[:, 2])
    assert total_energy(evaluate, small_model, moved, box) == pytest.approx(reference, rel=1e-12)


@pytest.mark.slow
def test_small_cell_with_images_equals_its_supercell_per_atom(small_model, evaluate):
    # 8 atoms, cell height c < cutoff: atoms see several images of themselves and of each other.
    positions, box = perturbed_hcp((2, 2, 1))
    repeat = np.array([2, 2, 4])
    offsets = np.array(list(itertools.product(*(range(n) for n in repeat)))) @ np.asarray(box).T
    super_positions = (positions[None] + offsets[:, None]).reshape(-1, 3)
    super_box = box * repeat[None, :]
    cutoff = small_model[0].cutoff
    assert image_range(np.asarray(box), cutoff) is not None and image_range(np.asarray(super_box), cutoff) is None
    small = total_energy(evaluate, small_model, positions, box) / len(positions)
    large = total_energy(evaluate, small_model, super_positions, super_box) / len(super_positions)
    assert small == pytest.approx(large, rel=1e-12)


# ---------------------------------------------------------------- derivatives


def test_forces_and_virial_match_central_finite_differences(small_model, evaluate):
    potential, params, _ = small_model
    positions, box = perturbed_hcp((2, 2, 2), seed=3)
    graph = graph_for(positions, box, potential.cutoff)
    _, forces, virial = evaluate(potential, params, positions, box, graph)
    energy = lambda r, b: float(evaluate(potential, params, r, b, graph)[0])
    h = 1e-5
    for atom, axis in [(0, 0), (5, 1), (11, 2)]:
        step = jnp.zeros_like(positions).at[atom, axis].set(h)
        fd = -(energy(positions + step, box) - energy(positions - step, box)) / (2 * h)
        assert float(forces[atom, axis]) == pytest.approx(fd, rel=1e-6, abs=1e-8)
    for a, b in [(0, 0), (2, 2), (0, 1), (1, 2)]:
        deform = jnp.eye(3).at[a, b].add(h)  # positions and box strained together, graph unchanged
        fd = -(energy(positions @ deform.T, deform @ box) - energy(positions @ (2 * jnp.eye(3) - deform).T,
                                                                    (2 * jnp.eye(3) - deform) @ box)) / (2 * h)
        assert float(virial[a, b]) == pytest.approx(fd, rel=1e-6, abs=1e-8)
    np.testing.assert_allclose(virial, virial.T, atol=1e-10)  # rotation invariance
    np.testing.assert_allclose(jnp.sum(forces, axis=0), 0, atol=1e-10)  # translation invariance


def test_collinear_triplets_have_finite_smooth_forces(small_model, evaluate):
    # Simple cubic, a = 0.24 nm: neighbours at +-a along each axis are collinear (theta = pi).
    potential, params, _ = small_model
    positions = 0.24 * jnp.array(list(itertools.product(range(3), repeat=3)), dtype=float)
    box = 0.72 * jnp.eye(3)
    positions = positions.at[4].add(jnp.array([0.0, 0.0, 1e-3]))  # the other atoms keep collinear triplets
    graph = graph_for(positions, box, potential.cutoff)
    _, forces, _ = evaluate(potential, params, positions, box, graph)
    assert np.all(np.isfinite(forces))
    h = 1e-5
    step = jnp.zeros_like(positions).at[13, 0].set(h)
    fd = -(evaluate(potential, params, positions + step, box, graph)[0]
           - evaluate(potential, params, positions - step, box, graph)[0]) / (2 * h)
    assert float(forces[13, 0]) == pytest.approx(float(fd), rel=1e-5, abs=1e-8)


# ---------------------------------------------------------------- masking


def test_extra_capacity_does_not_change_energy_or_forces(small_model, evaluate):
    potential, params, _ = small_model
    positions, box = perturbed_hcp((2, 2, 2))
    e1, f1, w1 = evaluate(potential, params, positions, box, graph_for(positions, box, potential.cutoff))
    e2, f2, w2 = evaluate(potential, params, positions, box, graph_for(positions, box, potential.cutoff, CAPACITY + 9))
    assert float(e1) == pytest.approx(float(e2), rel=1e-13)
    np.testing.assert_allclose(f1, f2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w1, w2, rtol=1e-10, atol=1e-12)


def test_edges_beyond_the_cutoff_contribute_nothing(small_model, evaluate):
    # A graph built with a skin (larger cutoff, reused over several MD steps) gives the same result.
    potential, params, _ = small_model
    positions, box = perturbed_hcp((2, 2, 2))
    exact = graph_for(positions, box, potential.cutoff, CAPACITY + 9)
    with_skin = graph_for(positions, box, 0.52, CAPACITY + 9)
    assert int(with_skin.mask.sum()) > int(exact.mask.sum()) + 100
    e1, f1, w1 = evaluate(potential, params, positions, box, exact)
    e2, f2, w2 = evaluate(potential, params, positions, box, with_skin)
    assert float(e1) == pytest.approx(float(e2), rel=1e-13)
    np.testing.assert_allclose(f1, f2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w1, w2, rtol=1e-10, atol=1e-12)


def test_padding_atoms_contribute_nothing(small_model, evaluate):
    potential, params, _ = small_model
    positions, box = perturbed_hcp((2, 2, 2))
    padding = jnp.asarray(np.random.default_rng(5).uniform(0, 0.5, (3, 3)))  # anywhere, even on real atoms
    padded = jnp.concatenate([positions, padding])
    atom_mask = jnp.arange(len(padded)) < len(positions)
    e, forces, virial = evaluate(potential, params, padded, box, graph_for(padded, box, potential.cutoff,
                                                                            atom_mask=atom_mask))
    e_ref, forces_ref, virial_ref = evaluate(potential, params, positions, box,
                                             graph_for(positions, box, potential.cutoff))
    assert float(e) == pytest.approx(float(e_ref), rel=1e-12)
    np.testing.assert_allclose(forces[: len(positions)], forces_ref, rtol=1e-9, atol=1e-12)
    assert np.all(forces[len(positions):] == 0)
    np.testing.assert_allclose(virial, virial_ref, rtol=1e-9, atol=1e-12)


def test_truncated_graph_gives_nan_not_a_wrong_energy(small_model, evaluate):
    potential, params, _ = small_model
    positions, box = perturbed_hcp((2, 2, 2))
    needed = int(graph_for(positions, box, potential.cutoff).max_neighbors)
    truncated = build_graph(positions, box, potential.cutoff, needed - 2, image_range(np.asarray(box), 0.5))
    e, forces, _ = evaluate(potential, params, positions, box, truncated)
    assert np.isnan(float(e))
    assert np.any(np.isnan(forces))  # MD uses forces only: they must not look valid


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
        slots = [b for b in np.nonzero(mask[j])[0]
                 if not (idx[j, b] == i and np.all(shift[j, b] == -shift[i, a]))]  # skip the back-edge k = i
        n_triplets += len(slots)
        r_ji, r_kj = -d[i, a], d[j, slots]  # r_i - r_j and r_k - r_j
        cos = r_kj @ r_ji / (np.linalg.norm(r_ji) * np.linalg.norm(r_kj, axis=1))
        x = np.linalg.norm(r_kj, axis=1) / cutoff
        radial = (basis.normalizers * special.spherical_jn(orders[:, None], basis.zeros * x[:, None, None])
                  * np.asarray(envelope(jnp.asarray(x), 6))[:, None, None])
        angular = np.sqrt((2 * orders + 1) / (4 * np.pi)) * special.eval_legendre(orders, cos[:, None])
        sbf = (radial * angular[:, :, None]).reshape(len(slots), -1)
        out[i, a] = np.sum(kj_features[j, slots] * (sbf @ w_sbf1 @ w_sbf2), axis=0)
    return out, n_triplets


def test_fast_triplet_aggregation_equals_the_plain_triplet_sum():
    positions, box = perturbed_hcp((2, 2, 1), seed=7, amplitude=0.02)  # 8 atoms: i is seen as several images
    cutoff = 0.5
    graph = graph_for(positions, box, cutoff)
    d = displacements(positions, box, graph)
    basis = spherical_basis_radial(7, 6)
    rng = np.random.default_rng(0)
    kj_features = jnp.asarray(rng.standard_normal(graph.mask.shape + (5,))) * graph.mask[..., None]
    w_sbf1 = rng.standard_normal((42, 8))
    w_sbf2 = rng.standard_normal((8, 5))

    expected, n_triplets = slow_triplet_sum(kj_features, d, graph, basis, cutoff, w_sbf1, w_sbf2)
    counts = np.asarray(graph.mask.sum(axis=1))
    assert n_triplets == sum(counts[j] - 1 for j in np.asarray(graph.idx)[np.asarray(graph.mask)])
    assert int(graph.mask.sum()) > len(positions) * 20  # many images of few atoms

    @jax.jit
    def fast(kj_features, d, graph, w_sbf1, w_sbf2):
        distance, unit = dimenet.edge_geometry(d, graph.mask, cutoff)
        reverse, found = dimenet.reverse_slots(graph)
        aggregated = dimenet.aggregate_triplets(kj_features, sbf_radial(distance, basis, cutoff, 6),
                                                dimenet.triplet_angular_basis(unit, graph.mask, 7), graph.idx,
                                                reverse, w_sbf1, w_sbf2)
        return aggregated, found

    got, found = fast(kj_features, d, graph, jnp.asarray(w_sbf1), jnp.asarray(w_sbf2))
    assert bool(jnp.all(found | ~graph.mask))
    got = np.where(np.asarray(graph.mask)[..., None], np.asarray(got), 0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())
