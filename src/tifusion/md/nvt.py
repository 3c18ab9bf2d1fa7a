"""NVT integrators: BAOAB Langevin (the paper's EXP/elastic-constant runs) and Nose-Hoover chains.

Both are pure step functions on :class:`~tifusion.md.state.MDState` for
:func:`tifusion.md.runner.run`; :func:`run_nvt` is the entry point. Defaults are the
paper's: dt 0.5 fs, Langevin friction 4 / ps, Nose-Hoover chain of 5 with tau 50 fs
(2 chain substeps, 3 Suzuki-Yoshida steps), titanium mass.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
from tifusion.md.runner import run
from tifusion.md.state import per_atom_mass
from tifusion.units import MASS_TI

CHAIN_LENGTH = 5
CHAIN_STEPS = 2
SUZUKI_YOSHIDA_STEPS = 3


class Langevin(NamedTuple):
    dt: float  # ps
    kT: float  # kJ/mol
    friction: float  # 1/ps
    mass: float  # u (scalar or [N])


class NoseHoover(NamedTuple):
    dt: float  # ps
    kT: float  # kJ/mol
    tau: float  # ps, period of the chain's oscillation
    mass: float  # u (scalar or [N])


def langevin_step(settings, state, neighbors, evaluate_fn):
    """One BAOAB step (as jax-md ``simulate.nvt_langevin``); friction 0 is velocity Verlet."""
    dt, kT, gamma, mass = settings
    m = per_atom_mass(mass)
    key, noise_key = jax.random.split(state.key)
    p = state.momenta + 0.5 * dt * state.forces
    r = state.positions + 0.5 * dt * p / m
    c1 = jnp.exp(-gamma * dt)
    noise = jax.random.normal(noise_key, p.shape, dtype=p.dtype)
    p = c1 * p + jnp.sqrt(kT * (1 - c1**2) * m) * noise
    r = r + 0.5 * dt * p / m
    ev, neighbors = evaluate_fn(r, state.box, neighbors)
    p = p + 0.5 * dt * ev.forces
    return state._replace(positions=r, momenta=p, forces=ev.forces, energy=ev.energy, virial=ev.virial,
                          key=key, step=state.step + 1), neighbors, ev


def _chain_functions(settings):
    from jax_md import simulate  # here, not at module level: importing jax_md costs every job ~5 s

    return simulate.nose_hoover_chain(settings.dt, CHAIN_LENGTH, CHAIN_STEPS, SUZUKI_YOSHIDA_STEPS, settings.tau)


def _kinetic_energy(p, m):
    return 0.5 * jnp.sum(p**2 / m)


def nose_hoover_step(settings, state, neighbors, evaluate_fn):
    """Velocity Verlet between two half steps of a Nose-Hoover chain (jax-md's chain integrator)."""
    dt, kT, tau, mass = settings
    m = per_atom_mass(mass)
    from jax_md import simulate

    chains = _chain_functions(settings)
    dtype = state.positions.dtype
    chain = simulate.NoseHooverChain(state.chain_position, state.chain_momentum, jnp.zeros(CHAIN_LENGTH, dtype),
                                     tau, _kinetic_energy(state.momenta, m), state.positions.size)
    chain = chains.update_mass(chain, kT)
    p, chain = chains.half_step(state.momenta, chain, kT)
    p = p + 0.5 * dt * state.forces
    r = state.positions + dt * p / m
    ev, neighbors = evaluate_fn(r, state.box, neighbors)
    p = p + 0.5 * dt * ev.forces
    chain = chain.set(kinetic_energy=_kinetic_energy(p, m))
    p, chain = chains.half_step(p, chain, kT)
    return state._replace(positions=r, momenta=p.astype(dtype), forces=ev.forces, energy=ev.energy,
                          virial=ev.virial, step=state.step + 1, chain_position=chain.position.astype(dtype),
                          chain_momentum=chain.momentum.astype(dtype)), neighbors, ev


def nose_hoover_invariant(settings, state):
    """Conserved energy of the Nose-Hoover chain dynamics (kJ/mol), for checking the integration."""
    m = per_atom_mass(settings.mass)
    dof = state.positions.size
    q = settings.kT * settings.tau**2 * jnp.ones(CHAIN_LENGTH).at[0].multiply(dof)
    thermostat = jnp.sum(state.chain_momentum**2 / (2 * q)) + settings.kT * (
        dof * state.chain_position[0] + jnp.sum(state.chain_position[1:]))
    return state.energy + _kinetic_energy(state.momenta, m) + thermostat


def with_chain(state):
    """``state`` with a Nose-Hoover chain at rest if it has none yet."""
    if state.chain_position.shape[0] == CHAIN_LENGTH:
        return state
    zeros = jnp.zeros(CHAIN_LENGTH, dtype=state.positions.dtype)
    return state._replace(chain_position=zeros, chain_momentum=zeros)


def run_nvt(potential, params, state, n_steps, frame_interval, *, kT, dt=0.5e-3, friction=4.0, mass=MASS_TI,
            thermostat="langevin", tau=0.05, chunk_frames=None, skin=0.0, label=""):
    """NVT run at kT (kJ/mol) in the state's fixed box; returns (state, :class:`~tifusion.md.runner.Frames`).

    ``thermostat`` is "langevin" (BAOAB, ``friction`` in 1/ps) or "nose-hoover" (chain of 5,
    period ``tau`` in ps). The random key, step count, capacity and chain live in the state,
    so continuing from a returned (or saved and loaded) state continues the same trajectory.
    ``skin`` (nm) reuses neighbour graphs between steps (:func:`tifusion.md.runner.run`); ``label`` names the
    state point in errors.
    """
    if thermostat == "langevin":
        return run(langevin_step, Langevin(dt, kT, friction, mass), potential, params, state, n_steps,
                   frame_interval, chunk_frames, skin, label=label)
    if thermostat == "nose-hoover":
        return run(nose_hoover_step, NoseHoover(dt, kT, tau, mass), potential, params, with_chain(state), n_steps,
                   frame_interval, chunk_frames, skin, label=label)
    raise ValueError(f"thermostat must be 'langevin' or 'nose-hoover', got {thermostat!r}")
