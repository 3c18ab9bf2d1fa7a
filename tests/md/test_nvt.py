"""NVT integrators and the chunked runner, with a Lennard-Jones argon crystal (108 atoms, fcc)."""
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tifusion.md.nvt import NoseHoover, nose_hoover_invariant, run_nvt
from tifusion.md.pair import lennard_jones
from tifusion.md.state import MDState, init_state, kinetic_temperature, load_state, save_state
from tifusion.observables.statistics import block_average
from tifusion.structures import fcc_cubic
from tifusion.units import kT as kT_of

ARGON_MASS = 39.948
LJ = lennard_jones()  # cutoff 2.5 sigma: the 108-atom cell needs explicit periodic images
TEMPERATURE = 60.0
# One frame interval and chunk length everywhere: the compiled chunk is shared between tests.
RUN = dict(mass=ARGON_MASS, skin=0.1, chunk_frames=20)


@pytest.fixture(scope="module")
def crystal():
    return fcc_cubic(0.5256, (3, 3, 3))


@pytest.fixture(scope="module")
def thermalised(crystal, seed):
    state = init_state(jax.random.PRNGKey(seed), *crystal, kT_of(TEMPERATURE), LJ, None, mass=ARGON_MASS)
    state, _ = run_nvt(LJ, None, state, 1000, 10, kT=kT_of(TEMPERATURE), dt=5e-3, friction=5.0, **RUN)
    return state


@pytest.mark.slow
def test_langevin_kinetic_temperature_matches_the_target(thermalised):
    state, frames = run_nvt(LJ, None, thermalised, 4000, 10, kT=kT_of(TEMPERATURE), dt=5e-3, friction=5.0, **RUN)
    temperature = np.asarray(kinetic_temperature(frames.kinetic, state.positions.shape[0]))
    mean, error = block_average(temperature)
    assert abs(mean - TEMPERATURE) < 4 * error + 0.005 * TEMPERATURE, (mean, error)
    # Instantaneous fluctuations of a canonical kinetic energy: std(T)/T = sqrt(2 / (3N)).
    np.testing.assert_allclose(temperature.std() / mean, np.sqrt(2 / (3 * 108)), rtol=0.15)
    assert int(state.step) == int(thermalised.step) + 4000


def _total_energy(frames):
    return np.asarray(frames.energy) + 0.5 * np.trace(np.asarray(frames.kinetic), axis1=1, axis2=2)


def test_velocity_verlet_conserves_energy_with_second_order_error(thermalised):
    """Friction 0: the energy error of velocity Verlet shrinks 4x when dt is halved."""
    fluctuation, drift = {}, {}
    for dt, steps in ((8e-3, 1000), (4e-3, 2000)):
        _, frames = run_nvt(LJ, None, thermalised, steps, 10, kT=kT_of(TEMPERATURE), dt=dt, friction=0.0, **RUN)
        e = _total_energy(frames)
        fluctuation[dt], drift[dt] = e.std(), abs(e[-10:].mean() - e[:10].mean())
        potential_fluctuation = np.asarray(frames.energy).std()
        assert fluctuation[dt] < 0.02 * potential_fluctuation
        assert drift[dt] < 0.02 * potential_fluctuation
    assert 3.0 < fluctuation[8e-3] / fluctuation[4e-3] < 5.0


def test_overflow_grows_the_capacity_and_recomputes_the_chunk(crystal, thermalised, caplog):
    """Capacity 70, below the 78 neighbours of the lattice: the first chunk overflows."""
    settings = dict(kT=kT_of(TEMPERATURE), dt=5e-3, friction=5.0, mass=ARGON_MASS, chunk_frames=4)
    tight = thermalised._replace(capacity=jnp.asarray(70, jnp.int32))
    roomy = thermalised._replace(capacity=jnp.asarray(120, jnp.int32))
    with caplog.at_level(logging.WARNING, logger="tifusion.md.runner"):
        grown, frames = run_nvt(LJ, None, tight, 40, 10, **settings)
    assert "overflowed" in caplog.text
    assert int(grown.capacity) >= 78
    reference, reference_frames = run_nvt(LJ, None, roomy, 40, 10, **settings)
    # Same trajectory (the slot count only changes the summation order).
    np.testing.assert_allclose(grown.positions, reference.positions, rtol=0, atol=1e-9)
    np.testing.assert_allclose(frames.energy, reference_frames.energy, rtol=1e-10)
    np.testing.assert_array_equal(frames.step, reference_frames.step)


@pytest.mark.parametrize("thermostat", ["langevin", "nose-hoover"])
def test_saved_state_continues_bit_identically(thermalised, tmp_path, thermostat):
    settings = dict(kT=kT_of(TEMPERATURE), dt=5e-3, thermostat=thermostat, **RUN)
    straight, straight_frames = run_nvt(LJ, None, thermalised, 400, 10, **settings)
    half, first_frames = run_nvt(LJ, None, thermalised, 200, 10, **settings)
    save_state(tmp_path / "state.npz", half, {"note": "test"})
    loaded = load_state(tmp_path / "state.npz")
    assert isinstance(loaded, MDState)
    for field in MDState._fields:
        np.testing.assert_array_equal(getattr(loaded, field), getattr(half, field))
    continued, second_frames = run_nvt(LJ, None, loaded, 200, 10, **settings)
    for field in MDState._fields:
        np.testing.assert_array_equal(getattr(continued, field), getattr(straight, field), err_msg=field)
    np.testing.assert_array_equal(np.concatenate([first_frames.positions, second_frames.positions]),
                                  straight_frames.positions)


def test_load_state_names_a_wrong_file(tmp_path):
    np.savez(tmp_path / "other.npz", positions=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="other.npz"):
        load_state(tmp_path / "other.npz")


def test_nose_hoover_conserves_its_invariant_and_samples_the_temperature(thermalised):
    settings = NoseHoover(dt=5e-3, kT=kT_of(TEMPERATURE), tau=0.25, mass=ARGON_MASS)
    states = [thermalised]
    temperatures = []
    for _ in range(5):
        state, frames = run_nvt(LJ, None, states[-1], 400, 10, kT=settings.kT, dt=settings.dt,
                                thermostat="nose-hoover", tau=settings.tau, **RUN)
        states.append(state)
        temperatures.append(np.asarray(kinetic_temperature(frames.kinetic, 108)))
    invariant = np.array([float(nose_hoover_invariant(settings, s)) for s in states[1:]])
    kinetic_scale = 1.5 * 108 * settings.kT
    assert np.ptp(invariant) < 0.01 * kinetic_scale
    mean, error = block_average(np.concatenate(temperatures))
    assert abs(mean - TEMPERATURE) < 4 * error + 0.01 * TEMPERATURE, (mean, error)


def test_run_refuses_bad_arguments(thermalised):
    with pytest.raises(ValueError, match="multiple"):
        run_nvt(LJ, None, thermalised, 105, 10, kT=1.0)
    with pytest.raises(ValueError, match="thermostat"):
        run_nvt(LJ, None, thermalised, 10, 10, kT=1.0, thermostat="berendsen")
