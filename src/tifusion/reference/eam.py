"""The reference ("teacher") potential: Zhou, Johnson & Wadley 2004 EAM for titanium.

X. W. Zhou, R. A. Johnson, H. N. G. Wadley, Phys. Rev. B 69, 144113 (2004), Table III, Ti row
(the same numbers as the "Ti" block of LAMMPS ``tools/eam_database/EAM_code``). With
x = r / r_e:

- pair       phi(r) = A exp(-alpha (x - 1)) / (1 + (x - kappa)^20) - B exp(-beta (x - 1)) / (1 + (x - lambda)^20)
- density    f(r)   = f_e exp(-beta (x - 1)) / (1 + (x - lambda)^20)
- embedding  F(rho) = sum_i Fn_i (rho / rho_n - 1)^i            rho < rho_n = 0.85 rho_e
                      sum_i F_i (rho / rho_e - 1)^i              rho_n <= rho < rho_0 = 1.15 rho_e
                      F_e [1 - eta ln(rho / rho_s)] (rho / rho_s)^eta   rho >= rho_0
- energy     E = sum_i F(sum_{j != i} f(r_ij)) + 1/2 sum_{i != j} phi(r_ij)

The parameters stay in the published units (eV, Angstrom); the conversion to the internal
units (nm, kJ/mol) happens only in :func:`atom_energies`. The sums run over graph pairs
i != j only: jax-md's built-in EAM adds each atom's own density f(0), which is wrong here.

Cutoff 7.5 Angstrom (:data:`CUTOFF`): f and phi are below 1e-6 there, and the elastic
constants equal those at 8 Angstrom to 0.1 GPa. The 6.56 Angstrom (sqrt(5) r_e) cutoff of
LAMMPS-style generators cuts through hcp neighbour shells and must not be used. Pairs at or
beyond the cutoff are dropped even if the graph holds them (a graph built with a skin).

Computed in float64: ``jax_enable_x64`` must be on.
"""
import jax
import jax.numpy as jnp

from tifusion.potential import Potential
from tifusion.units import ANGSTROM, EV

CUTOFF_ANGSTROM = 7.5
CUTOFF = CUTOFF_ANGSTROM * ANGSTROM  # nm

# Table III, Ti (eV, Angstrom).
R_E = 2.933872
F_E = 1.863200
RHO_E = 25.565138
RHO_S = 25.565138
ALPHA = 8.775431
BETA = 4.680230
A = 0.373601
B = 0.570968
KAPPA = 0.5
LAMBDA = 1.0
FN = (-3.203773, -0.198262, 0.683779, -2.321732)
F = (-3.22, 0.0, 0.608587, -0.750710)
ETA = 0.558572
F_E_EMBED = -3.219176
RHO_N = 0.85 * RHO_E
RHO_0 = 1.15 * RHO_E


def pair_energy(r):
    """phi(r) in eV for r in Angstrom."""
    x = r / R_E
    repulsive = A * jnp.exp(-ALPHA * (x - 1)) / (1 + (x - KAPPA) ** 20)
    attractive = B * jnp.exp(-BETA * (x - 1)) / (1 + (x - LAMBDA) ** 20)
    return repulsive - attractive


def electron_density(r):
    """f(r) (dimensionless) for r in Angstrom."""
    x = r / R_E
    return F_E * jnp.exp(-BETA * (x - 1)) / (1 + (x - LAMBDA) ** 20)


def _polynomial(coefficients, t):
    return sum(c * t**i for i, c in enumerate(coefficients))


def embedding_energy(rho):
    """F(rho) in eV; each branch sees only arguments inside its own range, so gradients stay finite."""
    low = _polynomial(FN, jnp.minimum(rho, RHO_N) / RHO_N - 1)
    middle = _polynomial(F, jnp.clip(rho, RHO_N, RHO_0) / RHO_E - 1)
    scaled = jnp.maximum(rho, RHO_0) / RHO_S  # >= 1.15: the log and the power are smooth here
    high = F_E_EMBED * (1 - ETA * jnp.log(scaled)) * scaled**ETA
    return jnp.where(rho < RHO_N, low, jnp.where(rho < RHO_0, middle, high))


def atom_energies(params, d, graph):
    """Per-atom energies [N] in kJ/mol from neighbour displacements ``d`` [N, K, 3] in nm."""
    del params  # a fixed potential
    if not jax.config.jax_enable_x64:
        raise RuntimeError("the Zhou 2004 EAM is computed in float64: enable jax_enable_x64 first")
    d = jnp.asarray(d, dtype=jnp.float64) / ANGSTROM
    r2 = jnp.sum(d**2, axis=-1)
    pair = graph.mask & (r2 < CUTOFF_ANGSTROM**2)
    r = jnp.sqrt(jnp.where(pair, r2, 1.0))  # masked slots: a harmless r = 1 (no NaN gradient at 0)
    rho = jnp.sum(jnp.where(pair, electron_density(r), 0.0), axis=-1)
    half_pairs = 0.5 * jnp.sum(jnp.where(pair, pair_energy(r), 0.0), axis=-1)
    return EV * (embedding_energy(rho) + half_pairs)


def no_parameters(rng):
    del rng
    return None


def zhou2004_ti():
    """The Zhou 2004 Ti EAM as a :class:`~tifusion.potential.Potential` (params None).

    Equal instances compare equal (module-level functions), so jit caches keyed on the
    potential as a static argument are shared between calls.
    """
    return Potential(name="zhou2004_ti_eam_rc7.5A", cutoff=CUTOFF, atom_energies=atom_energies, init=no_parameters)
