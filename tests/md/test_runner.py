"""The chunked MD runner's safety net: collapsing dynamics stop with a clear error."""
import jax
import jax.numpy as jnp
import pytest

from tifusion.md.nvt import Langevin, langevin_step, run_nvt
from tifusion.md.pair import lennard_jones, pair_potential, smooth_step
from tifusion.md.runner import UnstableDynamicsError, run
from tifusion.md.state import init_state
from tifusion.structures import fcc_cubic
from tifusion.units import kT as kT_of

ARGON_MASS = 39.948
CUTOFF = 0.6


def test_collapsing_atoms_stop_the_run_with_an_error():
    """A purely attractive pair potential pulls an fcc crystal into clumps: the runner must refuse."""
    attraction = pair_potential("attractive_well", lambda r: -20.0 * smooth_step(r, 0.0, CUTOFF), CUTOFF)
    positions, box = fcc_cubic(0.5256, (3, 3, 3))
    state = init_state(jax.random.PRNGKey(0), positions, box, kT_of(60.0), attraction, None, mass=ARGON_MASS)
    with pytest.raises(UnstableDynamicsError, match="collapsing"):
        run_nvt(attraction, None, state, 4000, 10, kT=kT_of(60.0), dt=5e-3, friction=1.0, mass=ARGON_MASS,
                chunk_frames=20)


def test_a_pair_closer_than_the_minimum_distance_stops_the_run():
    """The closest-approach check sees real pair distances: fcc argon's nearest neighbours sit at 0.372 nm."""
    lj = lennard_jones()
    positions, box = fcc_cubic(0.5256, (3, 3, 3))
    state = init_state(jax.random.PRNGKey(0), positions, box, kT_of(10.0), lj, None, mass=ARGON_MASS)
    settings = Langevin(5e-3, kT_of(10.0), 1.0, ARGON_MASS)
    run(langevin_step, settings, lj, None, state, 20, 10, min_distance=0.30)
    with pytest.raises(UnstableDynamicsError, match="came within 0.3"):
        run(langevin_step, settings, lj, None, state, 20, 10, min_distance=0.40)


def test_a_potential_that_turns_nan_stops_the_run_naming_the_state_point_and_steps():
    """An LJ crystal whose energy turns NaN when two atoms come closer than 0.34 nm (a model outside its data): an
    error that names the state point and the steps, not MD that goes on with atoms dropped from the graph."""
    lj = lennard_jones()

    def nan_when_close(params, d, graph):
        r = jnp.sqrt(jnp.sum(d**2, axis=-1) + jnp.where(graph.mask, 0.0, 1.0))
        return jnp.where(jnp.min(r) < 0.34, jnp.nan, lj.atom_energies(params, d, graph))

    potential = lj._replace(name="nan_when_close", atom_energies=nan_when_close)
    positions, box = fcc_cubic(0.5256, (3, 3, 3))
    state = init_state(jax.random.PRNGKey(0), positions, box, kT_of(10.0), potential, None, mass=ARGON_MASS)
    with pytest.raises(UnstableDynamicsError, match=r"hcp elastic 323 K: nan_when_close: .* NaN or infinite in steps"):
        run_nvt(potential, None, state, 2000, 10, kT=kT_of(2000.0), dt=5e-3, friction=1.0, mass=ARGON_MASS,
                chunk_frames=20, label="hcp elastic 323 K")
