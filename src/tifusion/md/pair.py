"""Analytic pair potentials on the dense graph, for validating MD and observables.

They are cheap, smooth and exactly known, so integrators, barostats and the
stress-fluctuation machinery can be checked against lattice sums and finite differences
before they are used with the EAM reference or the learned model.
"""
import jax.numpy as jnp

from tifusion.potential import Potential


def smooth_step(r, r_on, r_cut):
    """1 below ``r_on``, 0 above ``r_cut``, infinitely differentiable everywhere.

    S = g(1 - x) / (g(1 - x) + g(x)) with g(t) = exp(-1/t) for t > 0, x = (r - r_on) / (r_cut - r_on).
    A polynomial switch has a kink in some derivative at its ends, which makes thermal
    averages of second derivatives (Born terms) non-analytic in T when a neighbour shell
    sits there.
    """
    x = jnp.clip((r - r_on) / (r_cut - r_on), 0.0, 1.0)

    def g(t):
        positive = t > 0
        return jnp.where(positive, jnp.exp(-1.0 / jnp.where(positive, t, 1.0)), 0.0)

    return g(1.0 - x) / (g(1.0 - x) + g(x))


def pair_potential(name, pair_energy, cutoff):
    """A :class:`Potential` with U = 1/2 sum_{i != j} phi(r_ij) for pairs within ``cutoff``.

    ``pair_energy(r)`` must vanish smoothly at ``cutoff`` for energy conservation and for
    finite-difference-consistent second derivatives.
    """

    def atom_energies(params, d, graph):
        del params  # a fixed potential
        r2 = jnp.sum(d**2, axis=-1)
        pair = graph.mask & (r2 < cutoff**2)
        r = jnp.sqrt(jnp.where(pair, r2, cutoff**2))  # masked slots: finite r, no NaN gradient
        return 0.5 * jnp.sum(jnp.where(pair, pair_energy(r), 0.0), axis=-1)

    return Potential(name=name, cutoff=cutoff, atom_energies=atom_energies, init=lambda rng: None)


def lennard_jones(sigma=0.3405, epsilon=0.996, cutoff=None, switch_width=None):
    """Lennard-Jones 12-6 smoothly switched off between ``cutoff - switch_width`` and ``cutoff``.

    Defaults: argon (sigma 0.3405 nm, epsilon 0.996 kJ/mol), cutoff 2.5 sigma, switching
    over the last 0.3 sigma.
    """
    cutoff = 2.5 * sigma if cutoff is None else cutoff
    switch_width = 0.3 * sigma if switch_width is None else switch_width

    def phi(r):
        s6 = (sigma / r) ** 6
        return 4.0 * epsilon * (s6 * s6 - s6) * smooth_step(r, cutoff - switch_width, cutoff)

    return pair_potential(f"lj_sigma{sigma}_eps{epsilon}_rc{cutoff:.4f}", phi, cutoff)
