"""DimeNet++ basis functions against analytic properties and scipy's special functions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special

from tifusion.model import basis

CUTOFF = 0.5


@pytest.mark.parametrize("p", [5, 6, 8])
def test_envelope_is_one_at_zero_and_vanishes_smoothly_at_one(p):
    u = lambda x: basis.envelope(x, p)
    du = jax.grad(u)
    d2u = jax.grad(du)
    assert float(u(0.0)) == 1.0
    for f in (u, du, d2u):
        assert abs(float(f(1.0))) < 1e-12
        assert abs(float(f(1.0 - 1e-9))) < 1e-6
    assert float(u(1.3)) == 0.0 and float(du(1.3)) == 0.0
    assert abs(float(jax.grad(d2u)(1.0 - 1e-12))) > 1  # the third derivative is not continuous: p is exact


def test_envelope_p6_is_the_paper_polynomial():
    x = np.linspace(0, 0.999, 101)
    expected = 1 - 28 * x**6 + 48 * x**7 - 21 * x**8
    np.testing.assert_allclose(basis.envelope(jnp.asarray(x), 6), expected, atol=1e-13)


def test_bessel_rbf_is_the_envelope_times_the_bessel_formula():
    np.testing.assert_allclose(basis.bessel_frequencies_init(4, jnp.float64), np.pi * np.arange(1, 5))
    frequencies = jnp.asarray([2.9, 6.5, 9.1, 13.0])  # trained frequencies move away from n pi
    d = np.linspace(0.05, 0.7, 53)
    x = d / CUTOFF
    u = np.where(x < 1, 1 - 28 * x**6 + 48 * x**7 - 21 * x**8, 0)
    expected = np.sqrt(2 / CUTOFF) * np.sin(np.asarray(frequencies) * x[:, None]) / d[:, None] * u[:, None]
    np.testing.assert_allclose(basis.bessel_rbf(jnp.asarray(d), frequencies, CUTOFF, 6), expected, atol=1e-12)


def test_spherical_bessel_zeros():
    zeros = basis.spherical_bessel_zeros(7, 6)
    np.testing.assert_allclose(zeros[0], np.pi * np.arange(1, 7), rtol=1e-14)
    # Published first zeros of j_1, j_2 (Abramowitz & Stegun table 10.6).
    np.testing.assert_allclose(zeros[1:3, 0], [4.493409457909, 5.763459196895], rtol=1e-11)
    orders = np.arange(7)[:, None]
    assert np.max(np.abs(special.spherical_jn(orders, zeros))) < 1e-12
    assert np.all(np.diff(zeros, axis=1) > 2.5) and np.all(np.diff(zeros, axis=0) > 0)  # consecutive, none skipped


def test_spherical_basis_radial_normalisation():
    sbf = basis.spherical_basis_radial(7, 6)
    for l, n in [(0, 0), (3, 2), (6, 5)]:
        norm, _ = integrate.quad(lambda x: (sbf.normalizers[l, n] * special.spherical_jn(l, sbf.zeros[l, n] * x)) ** 2
                                 * x**2, 0, 1, limit=200)
        assert norm == pytest.approx(1.0, rel=1e-10)


@pytest.mark.parametrize("dtype, tolerance", [(jnp.float64, 1e-10), (jnp.float32, 1e-6)])
def test_sbf_radial_matches_scipy(dtype, tolerance):
    sbf = basis.spherical_basis_radial(7, 6)
    distance = np.concatenate([np.linspace(0.01, CUTOFF, 997), [0.6, 1.0]])
    x = distance / CUTOFF
    orders = np.arange(7)[:, None]
    expected = (sbf.normalizers * special.spherical_jn(orders, sbf.zeros * x[:, None, None])
                * np.where(x < 1, 1 - 28 * x**6 + 48 * x**7 - 21 * x**8, 0)[:, None, None])
    got = np.asarray(basis.sbf_radial(jnp.asarray(distance, dtype), sbf, CUTOFF, 6))
    assert got.dtype == dtype
    assert np.max(np.abs(got - expected)) < tolerance * np.max(sbf.normalizers)
    assert np.all(got[-2:] == 0)


def test_sbf_radial_gradient_matches_finite_difference_and_is_finite_outside():
    sbf = basis.spherical_basis_radial(7, 6)
    f = lambda d: jnp.sum(basis.sbf_radial(d, sbf, CUTOFF, 6) * jnp.arange(42.0).reshape(7, 6))
    for d in (0.05, 0.29, 0.47):
        d, h = jnp.asarray(d), 1e-6
        fd = (f(d + h) - f(d - h)) / (2 * h)
        assert float(jax.grad(f)(d)) == pytest.approx(float(fd), rel=1e-6)
    assert float(jax.grad(f)(jnp.asarray(2 * CUTOFF))) == 0.0


def test_sbf_angular_is_the_m0_spherical_harmonic():
    theta = np.linspace(0, np.pi, 37)
    got = np.asarray(basis.sbf_angular(7, jnp.asarray(np.cos(theta))))
    expected = np.stack([special.sph_harm_y(l, 0, theta, 0.0).real for l in range(7)], axis=-1)
    np.testing.assert_allclose(got, expected, atol=1e-13)
