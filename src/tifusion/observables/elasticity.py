"""Born terms, the stress-fluctuation elastic tensor, pressure, and elastic-constant readouts.

Conventions (internal units, :mod:`tifusion.units`; stresses and stiffnesses in kJ/mol/nm^3):

- strain: a general (non-symmetric) displacement gradient eps applied affinely,
  d -> (1 + eps) d for every neighbour vector (positions and box deform together), as in
  the paper's code (``jacfwd(jacrev(U))`` of a 3x3 eps);
- Born stress sigma_B = (1/V) dU/d(eps) at eps = 0: tension positive, potential part only;
  sigma_B = -W / V with the virial W of :mod:`tifusion.potential`;
- Born stiffness C_B = (1/V) d2U/d(eps_ij) d(eps_kl) at eps = 0 over the general gradient;
  for a rotation-invariant U it equals the symmetric-strain stiffness plus the stress
  term delta_ik sigma_jl (see :func:`born_terms`);
- kinetic tensor K = sum_i m_i v_i v_i^T; pressure tensor P = (K + W) / V (compression
  positive), scalar P = tr(P) / 3 = (tr K + tr W) / (3 V); stress = -P.
"""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from tifusion.graph import build_graph, image_range, overflowed
from tifusion.md.state import build_neighbors, default_capacity_for, max_neighbor_count, neighbors_stale
from tifusion.potential import energy

# Symmetric strain directions (eps_kl + eps_lk) / 2 in Voigt order xx, yy, zz, yz, xz, xy.
VOIGT_PAIRS = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
ALL_VOIGT = (0, 1, 2, 3, 4, 5)
# The strain directions the hexagonal readout (C11, C33, C44, C12, C13) needs: xx, yy, zz, yz, xz
# (every entry :func:`hexagonal_constants` reads has its second index pair among them; xy only enters C66).
HEXAGONAL_VOIGT = (0, 1, 2, 3, 4)
# The independent constants of a hexagonal crystal in the order :func:`hexagonal_constants` returns them
# (C66 = (C11 - C12) / 2); the order of the experimental targets, the EXP loss and the tables.
HEXAGONAL_CONSTANTS = ("C11", "C33", "C44", "C12", "C13")


def _symmetric_directions(dtype, voigt=ALL_VOIGT):
    t = np.zeros((len(voigt), 3, 3))
    for m, v in enumerate(voigt):
        k, l = VOIGT_PAIRS[v]
        t[m, k, l] += 0.5
        t[m, l, k] += 0.5
    return jnp.asarray(t, dtype=dtype)


def _check_voigt(voigt):
    voigt = tuple(int(v) for v in voigt)
    if not voigt or len(set(voigt)) != len(voigt) or not set(voigt) <= set(ALL_VOIGT):
        raise ValueError(f"voigt must be distinct Voigt indices 0..5 (xx, yy, zz, yz, xz, xy), got {voigt}")
    return voigt


@partial(jax.jit, static_argnames=("potential", "voigt"))
def born_terms(potential, params, positions, box, graph, voigt=ALL_VOIGT):
    """(sigma_B [3, 3], C_B [3, 3, 3, 3]) at eps = 0 for one configuration.

    Cost: one gradient and its forward-mode derivative along the symmetric strain directions
    ``voigt`` (vmapped; all 6 by default), not the 9 x 9 nested Hessian. The antisymmetric
    (rotation) part follows from rotation invariance, U((1 + w) F) = U(F) for infinitesimal
    antisymmetric w: with G(eps) = dU/d(eps) = F S(E) (S the derivative with respect to the
    Green strain E = (F^T F - 1) / 2, F = 1 + eps),

        H_ijkl = d2U / d(eps_ij) d(eps_kl) = Q_ijkl + (delta_ik G_jl - delta_il G_jk) / 2,

    where Q_ijkl = (H_ijkl + H_ijlk) / 2 is what the symmetric directions give and
    G = dU/d(eps) at eps = 0 (symmetric). Equivalently H = d2U/dE dE + delta_ik G_jl.

    With a subset ``voigt`` of the directions (static tuple of Voigt indices, order xx, yy,
    zz, yz, xz, xy), H_ijkl is computed where (k, l) or, by H_ijkl = H_klij, (i, j) is one of
    them, and is NaN elsewhere (never silently wrong). :data:`HEXAGONAL_VOIGT` (5 of the 6
    directions) gives every entry :func:`hexagonal_constants` reads, identical to the full
    tensor's.
    """
    voigt = _check_voigt(voigt)
    dtype = positions.dtype
    volume = jnp.abs(jnp.linalg.det(box))

    def strain_gradient(eps):
        return jax.grad(lambda e: energy(potential, params, positions, box, graph, e))(eps)

    zero = jnp.zeros((3, 3), dtype=dtype)
    gradient, linear = jax.linearize(strain_gradient, zero)
    columns = jax.vmap(linear)(_symmetric_directions(dtype, voigt))  # [n, 3, 3]: Q[:, :, k, l] for the pairs
    q = jnp.full((3, 3, 3, 3), jnp.nan, dtype=dtype)
    for m, v in enumerate(voigt):
        k, l = VOIGT_PAIRS[v]
        q = q.at[:, :, k, l].set(columns[m]).at[:, :, l, k].set(columns[m])
    delta = jnp.eye(3, dtype=dtype)
    rotation = 0.5 * (jnp.einsum("ik,jl->ijkl", delta, gradient) - jnp.einsum("il,jk->ijkl", delta, gradient))
    hessian = q + rotation
    if len(voigt) < len(ALL_VOIGT):
        hessian = jnp.where(jnp.isnan(hessian), hessian.transpose(2, 3, 0, 1), hessian)  # H_ijkl = H_klij
    return gradient / volume, hessian / volume


def _hexagonal_directions(dtype):
    """The 5 symmetric strain directions of :data:`HEXAGONAL_DIRECTIONS` as [5, 3, 3] arrays."""
    xx, yy, zz, yz, xz = _symmetric_directions(dtype, HEXAGONAL_VOIGT)[jnp.array([0, 1, 2, 3, 4])]
    return jnp.stack([xx + yy, xx - yy, zz, yz, xz])


# Symmetric strain directions d_k whose first and second energy derivatives give the hexagonal readout:
# xx + yy, xx - yy, zz, yz, xz (the off-diagonal ones with 1/2 in both entries, as VOIGT_PAIRS). A frame's
# strain quantities are x = (D U[d_k] for the 5 directions, D2 U[d_a, d_b] for HEXAGONAL_PAIRS): 11 numbers.
HEXAGONAL_DIRECTIONS = ("xx+yy", "xx-yy", "zz", "yz", "xz")
HEXAGONAL_PAIRS = ((0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (0, 2))
N_STRAIN_QUANTITIES = len(HEXAGONAL_DIRECTIONS) + len(HEXAGONAL_PAIRS)


def hexagonal_strain_derivatives(energy_of_strain, dtype):
    """(U, x [11]) of one configuration: U at eps = 0 and its strain derivatives x (:data:`HEXAGONAL_PAIRS`).

    ``energy_of_strain(eps)``: the energy under the affine strain eps (3x3 displacement gradient). One gradient
    and its forward-mode derivative along the 5 directions (``jax.linearize``), as :func:`born_terms`.
    :func:`hexagonal_stress_and_born` turns x into the Born stress and the Born parts of the constants.
    """
    directions = _hexagonal_directions(dtype)
    zero = jnp.zeros((3, 3), dtype=dtype)
    (u, gradient), linear = jax.linearize(jax.value_and_grad(energy_of_strain), zero)
    columns = jax.vmap(lambda d: linear(d)[1])(directions)  # d(dU/d eps) along each direction
    first = jnp.einsum("kij,ij->k", directions, gradient)
    second = jnp.stack([jnp.sum(directions[a] * columns[b]) for a, b in HEXAGONAL_PAIRS])
    return u, jnp.concatenate([first, second])


def hexagonal_strain_derivatives_and_gradients(energy_fn, params, dtype):
    """(U, x [11], dU/dtheta, dx/dtheta) of :func:`hexagonal_strain_derivatives` and their parameter gradients.

    ``energy_fn(params, eps)``. The parameter gradient is taken once, in reverse mode, and the strain derivatives
    of that gradient in forward mode: for each pair (a, b) of :data:`HEXAGONAL_PAIRS` one forward-over-forward
    pass of ``value_and_grad`` gives U, D U[d_b], D U[d_a], D2 U[d_a, d_b] and their gradients at once.
    (Reverse mode through the forward-over-reverse Born terms costs several times more.) The gradients are
    pytrees like ``params`` with a leading axis of 11 for x.
    """
    directions = _hexagonal_directions(dtype)
    zero = jnp.zeros((3, 3), dtype=dtype)
    value_and_grad = jax.value_and_grad(energy_fn)
    a_index, b_index = (jnp.array(index) for index in zip(*HEXAGONAL_PAIRS))

    def pair(a, b):
        def along_b(eps):
            return jax.jvp(lambda e: value_and_grad(params, e), (eps,), (b,))

        (primal, first_b), (_, second) = jax.jvp(along_b, (zero,), (a,))
        return primal, first_b, second

    (u, grad_u), (first, grad_first), (second, grad_second) = jax.vmap(pair)(directions[a_index],
                                                                            directions[b_index])
    # The pairs (k, k), k < 5, give D U[d_k] along every direction once.
    diagonal = slice(0, len(HEXAGONAL_DIRECTIONS))
    x = jnp.concatenate([first[diagonal], second])
    grad_x = jax.tree_util.tree_map(lambda f, s: jnp.concatenate([f[diagonal], s]), grad_first, grad_second)
    return u[0], x, jax.tree_util.tree_map(lambda g: g[0], grad_u), grad_x


def hexagonal_stress_and_born(x, volume):
    """(Born stress in Voigt order xx, yy, zz, yz, xz [5], Born parts of C11, C33, C44, C12, C13 [5]) from x [..., 11].

    Linear in x. With t = D U along xx+yy, xx-yy, zz, yz, xz and p the second derivatives of
    :data:`HEXAGONAL_PAIRS`: sigma = ((t1 + t2)/2, (t1 - t2)/2, t3, t4, t5) / V and the averages
    :func:`hexagonal_constants` takes of the general-strain Born tensor H V, e.g. C44 = (H_0202 + H_0220 + H_2002
    + H_2020 + the four yz entries)/8 = (D2 U[xz, xz] + D2 U[yz, yz])/2V: C11 = (p1 + p2)/4V, C33 = p3/V,
    C44 = (p4 + p5)/2V, C12 = (p1 - p2)/4V, C13 = p6/2V.
    """
    t, p = x[..., :5], x[..., 5:]
    stress = jnp.stack([(t[..., 0] + t[..., 1]) / 2, (t[..., 0] - t[..., 1]) / 2, t[..., 2], t[..., 3], t[..., 4]],
                       axis=-1)
    born = jnp.stack([(p[..., 0] + p[..., 1]) / 4, p[..., 2], (p[..., 3] + p[..., 4]) / 2, (p[..., 0] - p[..., 1]) / 4,
                      p[..., 5] / 2], axis=-1)
    return stress / volume, born / volume


def hexagonal_constants_from_moments(mean_born, mean_stress_products, mean_stress, volume, kT, n_atoms):
    """(C11, C33, C44, C12, C13) [5] by the stress-fluctuation formula from averages over frames of
    :func:`hexagonal_stress_and_born`'s Born parts [5], stress products s s^T [5, 5] and stresses s [5].

    C = <C_B> - (V/kT) Cov(s, s) + N kT/V (delta delta + delta delta), read out as :func:`hexagonal_constants`:
    C11 averages Var(s_xx) and Var(s_yy), C44 Var(s_yz) and Var(s_xz), C13 Cov(s_xx, s_zz) and Cov(s_yy, s_zz);
    the kinetic term is 2 N kT/V for C11 and C33, N kT/V for C44, 0 for C12 and C13.
    """
    cov = mean_stress_products - jnp.outer(mean_stress, mean_stress)
    fluctuation = jnp.stack([(cov[0, 0] + cov[1, 1]) / 2, cov[2, 2], (cov[3, 3] + cov[4, 4]) / 2, cov[0, 1],
                             (cov[0, 2] + cov[1, 2]) / 2])
    kinetic = n_atoms * kT / volume * jnp.array([2.0, 2.0, 1.0, 0.0, 0.0], dtype=mean_stress.dtype)
    return mean_born - (volume / kT) * fluctuation + kinetic


@partial(jax.jit, static_argnames=("potential", "capacity", "n_images", "batch_size", "voigt"))
def born_terms_batch(potential, params, positions, box, capacity=None, n_images=None, batch_size=8, graph=None,
                     voigt=ALL_VOIGT):
    """Born terms of many frames: (sigma_B [F, 3, 3], C_B [F, 3, 3, 3, 3], overflowed [F]).

    ``positions`` [F, N, 3]; ``box`` [3, 3] (shared) or [F, 3, 3]. Each frame gets its own
    graph (static ``capacity``, ``n_images`` as in :func:`tifusion.graph.build_graph`), and
    frames whose graph overflowed are flagged: their terms must not be used. Alternatively
    ``graph`` is one graph valid for every frame (see :func:`shared_graph`), which avoids
    the per-frame neighbour search. Frames are processed ``batch_size`` at a time (vmap
    inside ``lax.map``) to bound memory; each frame is rematerialised under reverse-mode
    differentiation (``jax.checkpoint``). ``voigt``: the strain directions, as in :func:`born_terms`
    (:data:`HEXAGONAL_VOIGT` suffices for the hexagonal constants; other entries are then NaN).
    """
    boxes = jnp.broadcast_to(box, positions.shape[:1] + (3, 3))

    @jax.checkpoint
    def one_frame(args):
        r, b = args
        frame_graph = build_graph(r, b, potential.cutoff, capacity, n_images) if graph is None else graph
        sigma, stiffness = born_terms(potential, params, r, b, frame_graph, voigt=voigt)
        return sigma, stiffness, overflowed(frame_graph)

    return jax.lax.map(one_frame, (positions, boxes), batch_size=batch_size)


def shared_graph(positions, box, cutoff, skin, capacity=None):
    """One graph with cutoff + ``skin``, built at the mean positions, valid for every frame.

    For a crystal whose atoms stay near their sites (NVT, fixed box): every pair within
    ``cutoff`` in any frame is in the graph. Raises ValueError if some frame moved too far
    (use a larger skin or per-frame graphs). ``capacity`` defaults to a fitting one.
    """
    positions = jnp.asarray(positions)
    box = jnp.asarray(box)
    reference = jnp.mean(positions, axis=0)
    n_images = image_range(np.asarray(box), cutoff + skin)
    if capacity is None:
        capacity = default_capacity_for(max_neighbor_count(reference, box, cutoff + skin))
    graph, n_stale = _shared_graph(positions, reference, box, cutoff, skin, capacity, n_images)
    if int(n_stale):
        raise ValueError(f"{int(n_stale)} of {len(positions)} frames moved more than skin/2 = {skin / 2} nm "
                         f"from the mean positions: use a larger skin or per-frame graphs")
    return graph


@partial(jax.jit, static_argnames=("cutoff", "skin", "capacity", "n_images"))
def _shared_graph(positions, reference, box, cutoff, skin, capacity, n_images):
    neighbors = build_neighbors(reference, box, cutoff, skin, capacity, n_images)
    stale = jax.vmap(lambda r: neighbors_stale(neighbors, r, box, cutoff, skin))(positions)
    return neighbors.graph, jnp.sum(stale)


@jax.jit
def stress_fluctuation(sigma_born, stiffness_born, weights, volume, kT, n_atoms):
    """Isothermal elastic tensor C [3, 3, 3, 3] by the stress-fluctuation formula (differentiable).

    C = <C_B> - (V / kT) (<sigma_B sigma_B> - <sigma_B><sigma_B>) + (N kT / V)(d_ik d_jl + d_il d_jk)

    over frames with ``weights`` [n] summing to 1 (reweighting), or uniform for None.
    ``volume`` and ``kT`` are the fixed NVT values (nm^3, kJ/mol).
    """
    n = sigma_born.shape[0]
    w = jnp.full((n,), 1.0 / n, dtype=sigma_born.dtype) if weights is None else weights
    return elastic_tensor_from_averages(
        jnp.einsum("n,nijkl->ijkl", w, stiffness_born),
        jnp.einsum("n,nij,nkl->ijkl", w, sigma_born, sigma_born),
        jnp.einsum("n,nij->ij", w, sigma_born),
        volume, kT, n_atoms,
    )


def stress_fluctuation_per_frame(sigma_born, stiffness_born, volume, kT, n_atoms):
    """Per-frame terms C_t [n, 3, 3, 3, 3] whose mean is :func:`stress_fluctuation` with uniform weights, exactly.

    C_t = C_B,t - (V / kT) (sigma_t - <sigma>)(sigma_t - <sigma>) + (N kT / V)(d_ik d_jl + d_il d_jk): the
    estimate's linearization in each frame, so the autocorrelation of a constant's C_t sets its statistical error.
    """
    deviation = sigma_born - sigma_born.mean(axis=0)
    per_frame = jax.vmap(elastic_tensor_from_averages, (0, 0, None, None, None, None))
    return per_frame(stiffness_born, jnp.einsum("nij,nkl->nijkl", deviation, deviation),
                     jnp.zeros_like(sigma_born[0]), volume, kT, n_atoms)


def elastic_tensor_from_averages(mean_born, mean_sigma_sigma, mean_sigma, volume, kT, n_atoms):
    """The stress-fluctuation formula from the ensemble averages <C_B>, <sigma_B sigma_B>, <sigma_B>."""
    fluctuation = mean_sigma_sigma - jnp.einsum("ij,kl->ijkl", mean_sigma, mean_sigma)
    delta = jnp.eye(3, dtype=mean_sigma.dtype)
    kinetic = jnp.einsum("ik,jl->ijkl", delta, delta) + jnp.einsum("il,jk->ijkl", delta, delta)
    return mean_born - (volume / kT) * fluctuation + (n_atoms * kT / volume) * kinetic


def hexagonal_constants(c):
    """(C11, C33, C44, C12, C13) of a tensor with z along the hexagonal c axis (paper's averaging).

    C11 = (c0000 + c1111)/2, C33 = c2222, C44 = mean of the 8 entries 0202, 2002, 0220, 2020,
    2121, 1221, 2112, 1212, C12 = (c0011 + c1100)/2, C13 = mean of 0022, 2200, 1122, 2211.
    """
    c11 = (c[0, 0, 0, 0] + c[1, 1, 1, 1]) / 2
    c33 = c[2, 2, 2, 2]
    c44 = (c[0, 2, 0, 2] + c[2, 0, 0, 2] + c[0, 2, 2, 0] + c[2, 0, 2, 0]
           + c[2, 1, 2, 1] + c[1, 2, 2, 1] + c[2, 1, 1, 2] + c[1, 2, 1, 2]) / 8
    c12 = (c[0, 0, 1, 1] + c[1, 1, 0, 0]) / 2
    c13 = (c[0, 0, 2, 2] + c[2, 2, 0, 0] + c[1, 1, 2, 2] + c[2, 2, 1, 1]) / 4
    return c11, c33, c44, c12, c13


def cubic_constants(c):
    """(C11, C12, C44) of a tensor in the cubic axes, each averaged over its equivalent entries."""
    pairs = ((0, 1), (0, 2), (1, 2))
    c11 = (c[0, 0, 0, 0] + c[1, 1, 1, 1] + c[2, 2, 2, 2]) / 3
    c12 = sum(c[i, i, j, j] + c[j, j, i, i] for i, j in pairs) / 6
    c44 = sum(c[i, j, i, j] + c[j, i, j, i] + c[i, j, j, i] + c[j, i, i, j] for i, j in pairs) / 12
    return c11, c12, c44


def voigt_moduli(c11, c12, c13, c33, c44):
    """Voigt bulk and shear moduli and Poisson ratio (K, G, nu) of a HEXAGONAL crystal.

    K = (2/9)(C11 + C12 + 2 C13 + C33/2), G = (1/30)(12 C44 + 7 C11 - 5 C12 + 2 C33 - 4 C13),
    nu = (3K - 2G) / (2G + 6K). Uses C66 = (C11 - C12)/2, so not for cubic crystals: use
    :func:`voigt_moduli_of_tensor` there.
    """
    k = (2 / 9) * (c11 + c12 + 2 * c13 + c33 / 2)
    g = (12 * c44 + 7 * c11 - 5 * c12 + 2 * c33 - 4 * c13) / 30
    return k, g, poisson_ratio(k, g)


def voigt_moduli_of_tensor(c):
    """Voigt (K, G, nu) of any elastic tensor: K = C_iijj / 9, G = (3 C_ijij - C_iijj) / 30."""
    trace_iijj = jnp.einsum("iijj->", c)
    trace_ijij = jnp.einsum("ijij->", c)
    k = trace_iijj / 9
    g = (3 * trace_ijij - trace_iijj) / 30
    return k, g, poisson_ratio(k, g)


def poisson_ratio(k, g):
    return (3 * k - 2 * g) / (2 * g + 6 * k)


def pressure_tensor(virial, kinetic, volume):
    """P = (K + W) / V, compression positive; W = -dU/d(eps), K = sum m v v^T (kJ/mol)."""
    return (kinetic + virial) / volume


def pressure(virial, kinetic, volume):
    """Scalar pressure (tr K + tr W) / (3 V), kinetic part included; works on [..., 3, 3] stacks."""
    return (jnp.trace(kinetic, axis1=-2, axis2=-1) + jnp.trace(virial, axis1=-2, axis2=-1)) / (3 * volume)
