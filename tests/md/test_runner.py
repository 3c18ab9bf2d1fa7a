"""The chunked MD runner's safety net: collapsing dynamics stop with a clear error."""
import jax
import jax.numpy as jnp
import pytest

from tifusion.md.nvt import run_nvt
from tifusion.md.pair import pair_potential, smooth_step
from tifusion.md.runner import UnstableDynamicsError
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
