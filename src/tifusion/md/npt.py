"""NPT with an anisotropic cell: stochastic cell rescaling on top of BAOAB Langevin.

Stochastic cell rescaling (Bernetti & Bussi, J. Chem. Phys. 153, 114107 (2020)) is a
first-order barostat with a noise term that gives the correct volume fluctuations. Each
box direction d evolves in eps_d = ln L_d (Ito form, as implemented in GROMACS):

    d eps_d = (beta_d / (3 tau_P)) (P_dd - P0_dd) dt + sqrt(2 kT beta_d / (3 V tau_P)) dW_d

with the instantaneous pressure tensor P = (K + W) / V (kinetic part included),
compressibilities beta_d and target P0. Couplings (as GROMACS' c-rescale):

- "isotropic": one eps for all directions, driven by tr(P)/3 (keeps the box shape);
- "semiisotropic": x and y share one eps driven by (P_xx + P_yy)/2, z has its own:
  for hcp with c along z, a and c relax independently (c/a is free, the basal
  hexagon keeps its shape);
- "anisotropic": x, y, z independent (diagonal; no shear of the cell).

The stock jax-md NPT scales the box isotropically (c/a fixed): not usable for lattice
constants. Per step: barostat increment mu = exp(d eps) from the current pressure, then
B A O A of BAOAB, then positions and box scaled by mu and momenta by 1/mu, forces at the
scaled positions, final B.
"""
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from tifusion.md.runner import run
from tifusion.md.state import kinetic_tensor, per_atom_mass
from tifusion.units import MASS_TI

COUPLINGS = ("isotropic", "semiisotropic", "anisotropic")


class CellRescaling(NamedTuple):
    dt: float  # ps
    kT: float  # kJ/mol
    friction: float  # Langevin friction, 1/ps
    mass: float  # u (scalar or [N])
    pressure: jax.Array  # [3, 3] target pressure tensor (only its diagonal is used), kJ/mol/nm^3
    compressibility: jax.Array  # [3] per box direction, nm^3 mol/kJ
    tau_p: float  # ps


def log_strain_increment(coupling, pressure_now, settings, volume, noise):
    """d eps [3] of one barostat step (``noise`` [3] standard normal; see the module docstring)."""
    beta_dt = settings.compressibility * settings.dt / settings.tau_p
    target = jnp.diagonal(settings.pressure)
    diag = jnp.diagonal(pressure_now)
    kT = settings.kT
    if coupling == "isotropic":
        drift = beta_dt[0] * (jnp.mean(diag) - jnp.mean(target)) / 3
        return jnp.full(3, drift + jnp.sqrt(2 * kT * beta_dt[0] / volume) / 3 * noise[0])
    if coupling == "semiisotropic":
        xy = beta_dt[0] * (jnp.mean(diag[:2]) - jnp.mean(target[:2])) / 3 + jnp.sqrt(
            kT * beta_dt[0] / (3 * volume)) * noise[0]
        z = beta_dt[2] * (diag[2] - target[2]) / 3 + jnp.sqrt(2 * kT * beta_dt[2] / (3 * volume)) * noise[2]
        return jnp.stack([xy, xy, z])
    if coupling == "anisotropic":
        return beta_dt * (diag - target) / 3 + jnp.sqrt(2 * kT * beta_dt / (3 * volume)) * noise
    raise ValueError(f"coupling must be one of {COUPLINGS}, got {coupling!r}")


def cell_rescaling_step(settings, state, neighbors, evaluate_fn, coupling):
    """One step of stochastic cell rescaling + BAOAB Langevin (pure; ``coupling`` static)."""
    dt, kT, gamma, mass = settings.dt, settings.kT, settings.friction, settings.mass
    m = per_atom_mass(mass)
    key, cell_key, noise_key = jax.random.split(state.key, 3)
    volume = jnp.abs(jnp.linalg.det(state.box))
    pressure_now = (kinetic_tensor(state.momenta, mass) + state.virial) / volume
    cell_noise = jax.random.normal(cell_key, (3,), dtype=state.positions.dtype)
    mu = jnp.exp(log_strain_increment(coupling, pressure_now, settings, volume, cell_noise))

    p = state.momenta + 0.5 * dt * state.forces
    r = state.positions + 0.5 * dt * p / m
    c1 = jnp.exp(-gamma * dt)
    noise = jax.random.normal(noise_key, p.shape, dtype=p.dtype)
    p = c1 * p + jnp.sqrt(kT * (1 - c1**2) * m) * noise
    r = r + 0.5 * dt * p / m
    r, box, p = r * mu, mu[:, None] * state.box, p / mu
    ev, neighbors = evaluate_fn(r, box, neighbors)
    p = p + 0.5 * dt * ev.forces
    return state._replace(positions=r, momenta=p, box=box, forces=ev.forces, energy=ev.energy, virial=ev.virial,
                          key=key, step=state.step + 1), neighbors, ev


# One function object per coupling, so jit caches compiled chunks across calls.
_STEPS = {coupling: partial(cell_rescaling_step, coupling=coupling) for coupling in COUPLINGS}


def target_pressure_tensor(pressure):
    """A scalar, 3 diagonal values, or a 3x3 tensor -> [3, 3]; off-diagonal targets are not supported."""
    p = jnp.asarray(pressure, dtype=float)
    if p.ndim == 0:
        return p * jnp.eye(3)
    if p.shape == (3,):
        return jnp.diag(p)
    if p.shape == (3, 3):
        if jnp.any(p - jnp.diag(jnp.diagonal(p)) != 0):
            raise ValueError(f"the cell rescaling here has no shear coupling: off-diagonal target pressure {p}")
        return p
    raise ValueError(f"target pressure must be a scalar, 3 values or 3x3, got shape {p.shape}")


def run_npt(potential, params, state, n_steps, frame_interval, *, kT, compressibility, pressure=0.0,
            coupling="semiisotropic", tau_p=0.5, dt=0.5e-3, friction=4.0, mass=MASS_TI, chunk_frames=None,
            skin=0.0, label=""):
    """NPT run; returns (state with the relaxed box, :class:`~tifusion.md.runner.Frames` with boxes).

    ``pressure`` target (kJ/mol/nm^3; scalar, per-direction [3] or diagonal 3x3),
    ``compressibility`` (nm^3 mol/kJ; scalar or per direction [3]) sets the coupling
    strength together with ``tau_p`` (ps); ``coupling`` is one of :data:`COUPLINGS`. The
    thermostat is BAOAB Langevin (``friction`` 1/ps). ``label`` names the state point in errors.
    """
    if coupling not in COUPLINGS:
        raise ValueError(f"coupling must be one of {COUPLINGS}, got {coupling!r}")
    beta = jnp.broadcast_to(jnp.asarray(compressibility, dtype=float), (3,))
    if not bool(jnp.all(beta > 0)) or not tau_p > 0:
        raise ValueError(f"compressibility ({compressibility}) and tau_p ({tau_p}) must be positive")
    settings = CellRescaling(dt, kT, friction, mass, target_pressure_tensor(pressure), beta, tau_p)
    return run(_STEPS[coupling], settings, potential, params, state, n_steps, frame_interval, chunk_frames, skin,
               label=label)
