import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.constants as sc

from tifusion.graph import build_graph, image_range
from tifusion.md.state import default_capacity
from tifusion.md.pair import lennard_jones
from tifusion.potential import energy
from tifusion.observables.elasticity import (HEXAGONAL_VOIGT, VOIGT_PAIRS, born_terms, born_terms_batch,
                                             cubic_constants, elastic_tensor_from_averages, hexagonal_constants,
                                             hexagonal_constants_from_moments, hexagonal_strain_derivatives,
                                             hexagonal_stress_and_born, pressure, pressure_tensor, stress_fluctuation,
                                             stress_fluctuation_per_frame, voigt_moduli, voigt_moduli_of_tensor)
from tifusion.reference.eam import zhou2004_ti
from tifusion.structures import fcc_cubic, hcp_supercell
from tifusion.units import GPA, KB

LJ = lennard_jones()


def _strained_rattled(positions, box, seed, strain_size=0.03, rattle=0.01):
    """A triclinic, stressed, force-carrying configuration (general non-symmetric deformation)."""
    rng = np.random.default_rng(seed)
    deformation = np.eye(3) + strain_size * rng.standard_normal((3, 3))
    box = deformation @ box
    positions = positions @ deformation.T + rattle * rng.standard_normal(positions.shape)
    return jnp.asarray(positions), jnp.asarray(box)


def _configurations():
    lj_positions, lj_box = _strained_rattled(*fcc_cubic(0.53, (2, 2, 2)), seed=0)
    eam_positions, eam_box = _strained_rattled(*hcp_supercell(0.295, 0.468, (2, 2, 2)), seed=1)
    return {"lj_fcc": (LJ, lj_positions, lj_box), "eam_hcp": (zhou2004_ti(), eam_positions, eam_box)}


CONFIGURATIONS = _configurations()


_build_graph = jax.jit(build_graph, static_argnums=(2, 3, 4))


def _graph(potential, positions, box, capacity=None):
    capacity = capacity or default_capacity(positions, box, potential.cutoff)
    return _build_graph(positions, box, potential.cutoff, capacity, image_range(np.asarray(box), potential.cutoff))


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_born_terms_match_finite_differences_of_the_strained_energy(name):
    potential, positions, box = CONFIGURATIONS[name]
    graph = _graph(potential, positions, box)
    volume = abs(float(jnp.linalg.det(box)))
    sigma, stiffness = born_terms(potential, None, positions, box, graph)

    strain_energy = jax.jit(jax.vmap(lambda eps: energy(potential, None, positions, box, graph, eps)))
    units = np.eye(9).reshape(9, 3, 3)
    h = 1e-5
    gradient_fd = (strain_energy(h * units) - strain_energy(-h * units)) / (2 * h)
    np.testing.assert_allclose(np.asarray(sigma).ravel(), gradient_fd / volume, rtol=1e-7,
                               atol=1e-7 * np.abs(gradient_fd).max() / volume)

    # Second derivatives: central differences of the (just verified) strain gradient.
    strain_gradient = jax.jit(jax.vmap(jax.grad(lambda eps: energy(potential, None, positions, box, graph, eps))))
    h = 1e-5
    hessian_fd = (strain_gradient(h * units) - strain_gradient(-h * units)) / (2 * h)  # [kl, i, j]
    hessian_fd = np.asarray(hessian_fd).reshape(3, 3, 3, 3).transpose(2, 3, 0, 1)
    np.testing.assert_allclose(np.asarray(stiffness), hessian_fd / volume, rtol=1e-6,
                               atol=1e-7 * np.abs(hessian_fd).max() / volume)
    assert np.abs(np.asarray(sigma)).max() > 0.01 * np.abs(np.asarray(stiffness)).max()  # really stressed


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_symmetric_strain_hessian_plus_stress_terms_equals_full_nested_autodiff(name):
    potential, positions, box = CONFIGURATIONS[name]
    graph = _graph(potential, positions, box)
    volume = jnp.abs(jnp.linalg.det(box))
    full = jax.jit(jax.jacfwd(jax.jacrev(lambda eps: energy(potential, None, positions, box, graph, eps))))(
        jnp.zeros((3, 3)))
    _, stiffness = born_terms(potential, None, positions, box, graph)
    np.testing.assert_allclose(np.asarray(stiffness), np.asarray(full / volume), rtol=1e-10,
                               atol=1e-12 * float(jnp.abs(full).max() / volume))
    # The stress terms matter here: the general-gradient Hessian lacks minor symmetry.
    assert float(jnp.abs(full - full.transpose(0, 1, 3, 2)).max()) > 1e-3 * float(jnp.abs(full).max())


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_subset_of_strain_directions_gives_the_full_tensor_entries_it_determines(name):
    """5 directions (no xy): every hexagonal entry equals the full tensor's, stress terms included."""
    potential, positions, box = CONFIGURATIONS[name]
    graph = _graph(potential, positions, box)
    sigma, full = (np.asarray(x) for x in born_terms(potential, None, positions, box, graph))
    scale = np.abs(full).max()
    for voigt in (HEXAGONAL_VOIGT, (2,), (5, 0)):
        sigma_v, part = (np.asarray(x) for x in born_terms(potential, None, positions, box, graph, voigt=voigt))
        np.testing.assert_allclose(sigma_v, sigma, rtol=1e-13, atol=1e-13 * np.abs(sigma).max())
        pairs = {VOIGT_PAIRS[v] for v in voigt} | {VOIGT_PAIRS[v][::-1] for v in voigt}
        determined = np.zeros((3, 3, 3, 3), dtype=bool)
        for i, j, k, l in itertools.product(range(3), repeat=4):
            determined[i, j, k, l] = (i, j) in pairs or (k, l) in pairs
        assert np.isnan(part[~determined]).all()
        np.testing.assert_allclose(part[determined], full[determined], rtol=1e-12, atol=1e-13 * scale)
    # The hexagonal readout from the strain derivatives along xx+yy, xx-yy, zz, yz, xz equals the full tensor's,
    volume, kT, n_atoms = abs(float(jnp.linalg.det(box))), 2.5, len(positions)
    _, x = hexagonal_strain_derivatives(lambda eps: energy(potential, None, positions, box, graph, eps), box.dtype)
    stress, born = (np.asarray(v) for v in hexagonal_stress_and_born(x, volume))
    np.testing.assert_allclose(born, np.array(hexagonal_constants(jnp.asarray(full))), rtol=1e-12, atol=1e-13 * scale)
    np.testing.assert_allclose(stress, sigma[[0, 1, 2, 1, 0], [0, 1, 2, 2, 2]], rtol=1e-13,
                               atol=1e-13 * np.abs(sigma).max())
    # ... and so do the stress-fluctuation constants from its moments (one frame: no fluctuation, kinetic terms).
    s = jnp.asarray(sigma)
    c_full = elastic_tensor_from_averages(jnp.asarray(full), jnp.einsum("ij,kl->ijkl", s, s), s, volume, kT, n_atoms)
    moments = hexagonal_constants_from_moments(jnp.asarray(born), jnp.outer(stress, stress), jnp.asarray(stress),
                                               volume, kT, n_atoms)
    np.testing.assert_allclose(np.asarray(moments), np.array(hexagonal_constants(c_full)), rtol=1e-12,
                               atol=1e-13 * scale)
    with pytest.raises(ValueError, match="Voigt"):
        born_terms(potential, None, positions, box, graph, voigt=(0, 0))


@pytest.mark.slow
def test_born_terms_batch_equals_single_frames_and_flags_overflow():
    potential, positions, box = CONFIGURATIONS["lj_fcc"]
    rng = np.random.default_rng(3)
    frames = jnp.asarray(np.asarray(positions)[None] + 0.005 * rng.standard_normal((5,) + positions.shape))
    n_images = image_range(np.asarray(box), potential.cutoff)
    capacity = default_capacity(positions, box, potential.cutoff)
    sigma, stiffness, overflowed = born_terms_batch(potential, None, frames, box, capacity, n_images, batch_size=2)
    assert not np.asarray(overflowed).any()
    for f in range(5):
        s1, c1 = born_terms(potential, None, frames[f], box, _graph(potential, frames[f], box, capacity))
        np.testing.assert_allclose(sigma[f], s1, rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(stiffness[f], c1, rtol=1e-10, atol=1e-9)
    _, _, overflowed = born_terms_batch(potential, None, frames, box, 10, n_images)
    assert np.asarray(overflowed).all()
    # 5 directions: the hexagonal readout of every frame is unchanged.
    sigma5, stiffness5, _ = born_terms_batch(potential, None, frames, box, capacity, n_images, batch_size=2,
                                             voigt=HEXAGONAL_VOIGT)
    np.testing.assert_allclose(sigma5, sigma, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.array(jax.vmap(lambda c: jnp.stack(hexagonal_constants(c)))(stiffness5)),
                               np.array(jax.vmap(lambda c: jnp.stack(hexagonal_constants(c)))(stiffness)), rtol=1e-12)


def test_pressure_is_minus_the_volume_derivative_of_the_energy():
    positions, box = (jnp.asarray(x) for x in fcc_cubic(0.51, (2, 2, 2)))  # compressed: P > 0
    graph = _graph(LJ, positions, box)
    volume = float(jnp.linalg.det(box))

    strain_energy = jax.jit(lambda eps: energy(LJ, None, positions, box, graph, eps))

    def u_of_volume(v):
        return float(strain_energy(((v / volume) ** (1 / 3) - 1) * jnp.eye(3)))

    dv = 1e-6 * volume
    p_fd = -(u_of_volume(volume + dv) - u_of_volume(volume - dv)) / (2 * dv)
    sigma, _ = born_terms(LJ, None, positions, box, graph)
    virial = -sigma * volume
    p = float(pressure(virial, jnp.zeros((3, 3)), volume))
    assert p > 0
    np.testing.assert_allclose(p, p_fd, rtol=1e-6)
    np.testing.assert_allclose(jnp.trace(pressure_tensor(virial, jnp.zeros((3, 3)), volume)) / 3, p, rtol=1e-12)


def _tensor_from_voigt(c6):
    voigt = {(0, 0): 0, (1, 1): 1, (2, 2): 2, (1, 2): 3, (2, 1): 3, (0, 2): 4, (2, 0): 4, (0, 1): 5, (1, 0): 5}
    c = np.zeros((3, 3, 3, 3))
    for i, j, k, l in itertools.product(range(3), repeat=4):
        c[i, j, k, l] = c6[voigt[i, j], voigt[k, l]]
    return c


def _hexagonal_voigt(c11, c12, c13, c33, c44):
    c6 = np.zeros((6, 6))
    c6[0, 0] = c6[1, 1] = c11
    c6[2, 2] = c33
    c6[0, 1] = c6[1, 0] = c12
    c6[0, 2] = c6[2, 0] = c6[1, 2] = c6[2, 1] = c13
    c6[3, 3] = c6[4, 4] = c44
    c6[5, 5] = (c11 - c12) / 2
    return c6


def test_hexagonal_readout_and_voigt_moduli_of_a_known_tensor():
    constants = dict(c11=160.9, c12=92.5, c13=69.1, c33=179.5, c44=46.2)  # Ti at 323 K, GPa
    c = _tensor_from_voigt(_hexagonal_voigt(**constants))
    c11, c33, c44, c12, c13 = hexagonal_constants(c)
    np.testing.assert_allclose([c11, c33, c44, c12, c13], [constants[k] for k in ("c11", "c33", "c44", "c12", "c13")])
    k, g, nu = voigt_moduli(c11, c12, c13, c33, c44)
    np.testing.assert_allclose([k, g, nu], voigt_moduli_of_tensor(jnp.asarray(c)), rtol=1e-12)
    # An isotropic solid: K and G come back, nu = (3K - 2G) / (2(3K + G)).
    lam, mu = 70.0, 40.0
    iso = _tensor_from_voigt(_hexagonal_voigt(lam + 2 * mu, lam, lam, lam + 2 * mu, mu))
    np.testing.assert_allclose(voigt_moduli(*(iso[0, 0, 0, 0], iso[0, 0, 1, 1], iso[0, 0, 2, 2], iso[2, 2, 2, 2],
                                              iso[1, 2, 1, 2])),
                               [lam + 2 * mu / 3, mu, lam / (2 * (lam + mu))], rtol=1e-12)


def test_cubic_readout_averages_the_equivalent_entries():
    c6 = np.zeros((6, 6))
    c6[:3, :3] = 88.1
    c6[[0, 1, 2], [0, 1, 2]] = 120.2
    c6[[3, 4, 5], [3, 4, 5]] = 56.1
    c = _tensor_from_voigt(c6)
    np.testing.assert_allclose(cubic_constants(c), [120.2, 88.1, 56.1])
    # Deviations that cancel over the equivalent entries leave the readout unchanged.
    skewed = c.copy()
    skewed[0, 0, 0, 0] += 3.0
    skewed[1, 1, 1, 1] -= 3.0
    skewed[0, 0, 1, 1] += 2.0
    skewed[2, 2, 1, 1] -= 2.0
    skewed[0, 1, 0, 1] += 1.0
    skewed[2, 1, 1, 2] -= 1.0
    np.testing.assert_allclose(cubic_constants(skewed), [120.2, 88.1, 56.1])
    k, g, _ = voigt_moduli_of_tensor(jnp.asarray(c))
    np.testing.assert_allclose([k, g], [(120.2 + 2 * 88.1) / 3, (120.2 - 88.1 + 3 * 56.1) / 5], rtol=1e-12)


def test_ideal_gas_pressure_and_kinetic_stiffness_in_gpa():
    """No interactions: P = N k T / V and C11 = 2 N k T / V, C12 = 0, C44 = N k T / V, in SI units."""
    n_atoms, volume_nm3, temperature = 1000, 27.0, 300.0
    rng = np.random.default_rng(0)
    mass = 47.867
    kT = KB * temperature
    momenta = np.sqrt(mass * kT) * rng.standard_normal((4000, n_atoms, 3))
    kinetic = np.einsum("fna,fnb->fab", momenta, momenta) / mass
    p_gpa = float(np.mean(pressure(jnp.zeros((3, 3)), jnp.asarray(kinetic), volume_nm3))) / GPA
    p_si = n_atoms * sc.k * temperature / (volume_nm3 * 1e-27) / 1e9
    np.testing.assert_allclose(p_gpa, p_si, rtol=2e-3)
    c = stress_fluctuation(jnp.zeros((3, 3, 3)), jnp.zeros((3, 3, 3, 3, 3)), None, volume_nm3, kT, n_atoms) / GPA
    np.testing.assert_allclose(cubic_constants(c), [2 * p_si, 0.0, p_si], rtol=1e-6, atol=1e-12)


def test_stress_fluctuation_weights_and_formula():
    rng = np.random.default_rng(1)
    n = 50
    sigma = jnp.asarray(rng.standard_normal((n, 3, 3)))
    stiffness = jnp.asarray(rng.standard_normal((n, 3, 3, 3, 3)))
    volume, kT, n_atoms = 3.0, 2.5, 10
    uniform = stress_fluctuation(sigma, stiffness, None, volume, kT, n_atoms)
    np.testing.assert_allclose(uniform, stress_fluctuation(sigma, stiffness, jnp.full(n, 1 / n), volume, kT, n_atoms))
    # Integer weights = repeated frames.
    counts = rng.integers(1, 4, n)
    repeated = stress_fluctuation(jnp.repeat(sigma, counts, axis=0), jnp.repeat(stiffness, counts, axis=0), None,
                                  volume, kT, n_atoms)
    np.testing.assert_allclose(stress_fluctuation(sigma, stiffness, jnp.asarray(counts / counts.sum()), volume, kT,
                                                  n_atoms), repeated, rtol=1e-12)
    s = np.asarray(sigma).reshape(n, 9)
    covariance = np.cov(s.T, bias=True).reshape(3, 3, 3, 3)
    delta = np.eye(3)
    expected = (np.asarray(stiffness).mean(0) - volume / kT * covariance
                + n_atoms * kT / volume * (np.einsum("ik,jl->ijkl", delta, delta) + np.einsum("il,jk->ijkl", delta, delta)))
    np.testing.assert_allclose(uniform, expected, rtol=1e-10, atol=1e-12)
    # Differentiable in the weights (reweighting).
    grad = jax.grad(lambda w: stress_fluctuation(sigma, stiffness, w / w.sum(), volume, kT, n_atoms)[0, 0, 0, 0])(
        jnp.ones(n))
    assert np.isfinite(np.asarray(grad)).all() and np.abs(np.asarray(grad)).max() > 0


def test_hexagonal_constants_from_moments_equal_the_readout_of_the_stress_fluctuation_tensor():
    rng = np.random.default_rng(5)
    n, volume, kT, n_atoms = 7, 3.1, 2.7, 150
    sigma = rng.standard_normal((n, 3, 3))
    sigma = jnp.asarray(sigma + sigma.transpose(0, 2, 1))
    stiffness = jnp.asarray(rng.standard_normal((n, 3, 3, 3, 3)))
    expected = np.array(hexagonal_constants(stress_fluctuation(sigma, stiffness, None, volume, kT, n_atoms)))
    stress = sigma[:, [0, 1, 2, 1, 0], [0, 1, 2, 2, 2]]  # Voigt xx, yy, zz, yz, xz
    born = jnp.stack(hexagonal_constants(stiffness.transpose(1, 2, 3, 4, 0)), axis=-1)
    result = hexagonal_constants_from_moments(born.mean(0), jnp.einsum("ni,nj->ij", stress, stress) / n,
                                              stress.mean(0), volume, kT, n_atoms)
    np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-12)


def test_stress_fluctuation_per_frame_terms_average_to_the_estimate_and_linearize_it():
    rng = np.random.default_rng(2)
    n, volume, kT, n_atoms = 40, 3.0, 2.5, 10
    sigma = jnp.asarray(rng.standard_normal((n, 3, 3)))
    stiffness = jnp.asarray(rng.standard_normal((n, 3, 3, 3, 3)))
    per_frame = stress_fluctuation_per_frame(sigma, stiffness, volume, kT, n_atoms)
    assert per_frame.shape == (n, 3, 3, 3, 3)
    np.testing.assert_allclose(per_frame.mean(axis=0), stress_fluctuation(sigma, stiffness, None, volume, kT, n_atoms),
                               rtol=1e-12, atol=1e-12)
    # First-order influence: giving frame t the weight 1/n + h changes the estimate by h (C_t - C) to O(h^2).
    h, t = 1e-6, 7
    weights = jnp.full(n, 1.0 / n).at[t].add(h)
    change = (stress_fluctuation(sigma, stiffness, weights / weights.sum(), volume, kT, n_atoms)
              - stress_fluctuation(sigma, stiffness, None, volume, kT, n_atoms))
    np.testing.assert_allclose(change, h / (1 + h) * (per_frame[t] - per_frame.mean(axis=0)), rtol=1e-4, atol=1e-12)

