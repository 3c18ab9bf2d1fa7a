"""Radial and angular basis functions of DimeNet++ (Gasteiger et al. 2020), as in the paper's code.

All radial functions take the scaled distance x = d / r_c and vanish, with their first
two derivatives, at x = 1 through the polynomial envelope; for x >= 1 they are exactly 0.

- envelope u(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)
  (p = 6: 1 - 28 x^6 + 48 x^7 - 21 x^8);
- radial Bessel basis e_n(d) = sqrt(2/r_c) sin(f_n x) / d * u(x), trainable frequencies f_n
  (initialised to n pi, see :func:`bessel_frequencies_init`);
- spherical basis a_ln(d, theta) = rad_ln(x) * Y_l0(theta), separable into the radial part
  rad_ln(x) = j_l(z_ln x) u(x) / sqrt(j_(l+1)(z_ln)^2 / 2) (z_ln: n-th zero of j_l; no 1/d
  factor, as in the paper's code; evaluated through its Chebyshev expansion, exact to
  float64 rounding, see :func:`spherical_basis_radial`) and the angular part
  Y_l0 = sqrt((2l+1)/4pi) P_l(cos theta).
  Angles enter only through cos theta, so collinear triplets need no arccos.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize, special


def envelope(x, p):
    """Smooth cutoff u(x): u(0) = 1, u = u' = u'' = 0 at x = 1, and 0 for x >= 1."""
    a = -(p + 1) * (p + 2) / 2
    b = p * (p + 2)
    c = -p * (p + 1) / 2
    inside = x < 1
    x = jnp.where(inside, x, 0.0)  # keeps the unused branch (and its gradient) finite
    return jnp.where(inside, 1 + x**p * (a + x * (b + c * x)), 0.0)


def bessel_frequencies_init(num_radial, dtype=jnp.float32):
    """Initial radial Bessel frequencies f_n = n pi, n = 1..num_radial."""
    return jnp.pi * jnp.arange(1, num_radial + 1, dtype=dtype)


def bessel_rbf(distance, frequencies, cutoff, p):
    """Radial Bessel basis [..., num_radial] of distances [...] (must be > 0)."""
    x = (distance / cutoff)[..., None]
    scale = float(np.sqrt(2.0 / cutoff))  # a numpy float64 would promote float32 inputs
    return scale * jnp.sin(frequencies * x) / distance[..., None] * envelope(x, p)


def spherical_bessel_zeros(num_spherical, num_radial):
    """z[l, n]: the first num_radial positive zeros of j_l, l < num_spherical (float64).

    Zeros of j_l interlace those of j_(l-1), so each is bracketed by two consecutive zeros
    of the previous order (starting from j_0, whose zeros are k pi).
    """
    brackets = np.pi * np.arange(1, num_radial + num_spherical)
    zeros = np.empty((num_spherical, num_radial))
    zeros[0] = brackets[:num_radial]
    for order in range(1, num_spherical):
        brackets = np.array([
            optimize.brentq(lambda z: special.spherical_jn(order, z), lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps)
            for lo, hi in zip(brackets[:-1], brackets[1:])
        ])
        zeros[order] = brackets[:num_radial]
    return zeros


class SphericalBasisRadial(NamedTuple):
    """Constants of the radial part of the spherical basis, computed once per model."""

    zeros: np.ndarray  # [L, R] zeros z_ln of j_l
    normalizers: np.ndarray  # [L, R] 1 / sqrt(j_(l+1)(z_ln)^2 / 2)
    chebyshev: np.ndarray  # [M, L, R] Chebyshev coefficients of normalizer * j_l(z_ln x) on x in [0, 1]


# Largest deviation of the Chebyshev representation from scipy's j_l, relative to the normalizers.
CHEBYSHEV_TOLERANCE = 1e-11


def spherical_basis_radial(num_spherical, num_radial):
    """Zeros, normalizers (int_0^1 (N_ln j_l(z_ln x))^2 x^2 dx = 1) and Chebyshev coefficients.

    N_ln j_l(z_ln x) is an entire function of x; its Chebyshev interpolant on [0, 1] equals
    it to float64 rounding (checked here against scipy on a fine grid; degree 33 for 7 x 6)
    and evaluates as a short recurrence plus one matmul for all L R functions. Direct
    evaluation of j_l needs different arguments per function, an upward recurrence over
    the orders and, for z < l, a power series against cancellation: many times slower.
    """
    zeros = spherical_bessel_zeros(num_spherical, num_radial)
    orders = np.arange(num_spherical)[:, None]
    normalizers = 1.0 / np.sqrt(0.5 * special.spherical_jn(orders + 1, zeros) ** 2)

    def functions(t):  # t = 2x - 1 in [-1, 1] -> [len(t), L, R]
        x = (np.asarray(t)[:, None, None] + 1) / 2
        return normalizers * special.spherical_jn(orders, zeros * x)

    check = np.linspace(-1, 1, 4001)
    exact = functions(check)
    degree = int(np.max(zeros)) // 2 + 8  # Chebyshev coefficients of sin(z x) decay past degree z/2
    while True:
        coefficients = np.polynomial.chebyshev.chebinterpolate(
            lambda t: functions(t).reshape(len(t), -1), degree)
        coefficients = coefficients.reshape(degree + 1, num_spherical, num_radial)
        error = np.max(np.abs(chebyshev_polynomials(check, degree + 1) @ coefficients.reshape(degree + 1, -1)
                              - exact.reshape(len(check), -1)))
        if error < CHEBYSHEV_TOLERANCE * np.max(normalizers):
            return SphericalBasisRadial(zeros, normalizers, coefficients)
        if degree > 400:
            raise ValueError(f"Chebyshev representation of the spherical basis ({num_spherical} x {num_radial}) "
                             f"did not converge: error {error:.3g} at degree {degree}")
        degree += 4


def chebyshev_polynomials(t, num_terms):
    """T_0(t) .. T_(num_terms-1)(t): [..., num_terms] (numpy or jax arrays, |t| <= 1)."""
    xp = jnp if isinstance(t, jax.Array) else np
    values = [xp.ones_like(t), t]
    for _ in range(2, num_terms):
        values.append(2 * t * values[-1] - values[-2])
    return xp.stack(values[:num_terms], axis=-1)


def sbf_radial(distance, basis, cutoff, p):
    """Radial part rad_ln of the spherical basis [..., L, R] for distances [...]."""
    num_terms, num_spherical, num_radial = basis.chebyshev.shape
    x = distance / cutoff
    t = 2 * jnp.clip(x, 0.0, 1.0) - 1  # beyond the cutoff the envelope is 0
    coefficients = jnp.asarray(basis.chebyshev.reshape(num_terms, -1), dtype=distance.dtype)
    values = chebyshev_polynomials(t, num_terms) @ coefficients
    return values.reshape(x.shape + (num_spherical, num_radial)) * envelope(x, p)[..., None, None]


def legendre(num_orders, cos_theta):
    """Legendre polynomials P_l(cos theta), l = 0..num_orders-1: [..., num_orders]."""
    values = [jnp.ones_like(cos_theta), cos_theta]
    for order in range(1, num_orders - 1):
        values.append(((2 * order + 1) * cos_theta * values[order] - order * values[order - 1]) / (order + 1))
    return jnp.stack(values[:num_orders], axis=-1)


def sbf_angular(num_spherical, cos_theta):
    """Angular part Y_l0(theta) = sqrt((2l+1)/4pi) P_l(cos theta): [..., num_spherical]."""
    prefactors = np.sqrt((2 * np.arange(num_spherical) + 1) / (4 * np.pi))
    return jnp.asarray(prefactors, dtype=cos_theta.dtype) * legendre(num_spherical, cos_theta)
