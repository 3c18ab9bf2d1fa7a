"""Resumable MD stages: a run killed after a checkpoint and started again gives the uninterrupted result;
a checkpoint of another computation is discarded."""
import logging

import jax
import numpy as np
import pytest

from tifusion.md.pair import lennard_jones
from tifusion.md.state import init_state
from tifusion.properties.simulation import Checkpoint, Stage, fingerprint, nvt_settings, run_stages, warn_unresolved
from tifusion.structures import fcc_cubic
from tifusion.units import kT

ARGON_MASS = 39.948
LJ = lennard_jones(cutoff=2.2 * 0.3405)
PROTOCOL = {"dt_ps": 0.005, "thermostat": "langevin", "friction_per_ps": 2.0, "nose_hoover_tau_ps": 0.5,
            "skin_nm": 0.0}


def stages(keep):
    md = dict(nvt_settings(PROTOCOL, 40.0), mass=ARGON_MASS)
    return [Stage("equilibration", "nvt", 60, 10, md), Stage("production", "nvt", 120, 10, md, keep)]


def positions_and_energy(frames):
    return {"positions": frames.positions, "energy": frames.energy}


def start():
    positions, box = fcc_cubic(0.53, (3, 3, 3))
    return init_state(jax.random.PRNGKey(3), positions, box, kT(40.0), LJ, None, mass=ARGON_MASS)


class Killed(Exception):
    pass


def test_a_killed_run_resumes_from_its_checkpoint_to_the_uninterrupted_result(tmp_path):
    reference_state, reference = run_stages(LJ, None, start(), stages(positions_and_energy), segment_steps=40)
    calls = []

    def killed_after_one_segment(frames):
        if calls:
            raise Killed
        calls.append(1)
        return positions_and_energy(frames)

    checkpoint = Checkpoint(tmp_path / "point", fingerprint(LJ, None, protocol=PROTOCOL))
    with pytest.raises(Killed):
        run_stages(LJ, None, start(), stages(killed_after_one_segment), checkpoint, segment_steps=40)
    saved = sorted(p.name for p in (tmp_path / "point").iterdir())
    assert saved == ["production.0000000040.npz", "state.npz"]
    # A fresh start state that differs: the resumed run must not use it.
    moved = start()._replace(positions=start().positions + 0.01)
    state, resumed = run_stages(LJ, None, moved, stages(positions_and_energy), checkpoint, segment_steps=40)
    np.testing.assert_array_equal(resumed["production"]["positions"], reference["production"]["positions"])
    np.testing.assert_array_equal(resumed["production"]["energy"], reference["production"]["energy"])
    np.testing.assert_array_equal(state.positions, reference_state.positions)
    assert int(state.step) == 180 and resumed["production"]["energy"].shape == (12,)


def test_a_checkpoint_of_another_computation_is_discarded(tmp_path):
    _, reference = run_stages(LJ, None, start(), stages(positions_and_energy), segment_steps=60)
    other = Checkpoint(tmp_path, fingerprint(LJ, None, protocol=dict(PROTOCOL, dt_ps=0.004)))
    run_stages(LJ, None, start()._replace(positions=start().positions + 0.01), stages(positions_and_energy), other,
               segment_steps=60)
    this = Checkpoint(tmp_path, fingerprint(LJ, None, protocol=PROTOCOL))
    assert this.digest != other.digest
    _, fresh = run_stages(LJ, None, start(), stages(positions_and_energy), this, segment_steps=60)
    np.testing.assert_array_equal(fresh["production"]["positions"], reference["production"]["positions"])


def test_fingerprint_depends_on_parameter_values():
    params = {"w": np.ones(3)}
    assert fingerprint(LJ, params, seed=0) == fingerprint(LJ, {"w": np.ones(3)}, seed=0)
    assert fingerprint(LJ, params, seed=0) != fingerprint(LJ, {"w": np.array([1.0, 1.0, 1.0 + 1e-12])}, seed=0)
    assert fingerprint(LJ, params, seed=0) != fingerprint(LJ, params, seed=1)


def test_warn_unresolved_names_only_the_quantities_whose_errors_are_lower_bounds(caplog):
    result = {"a_resolved": np.True_, "a_tau_ps": 0.1, "c_resolved": np.False_, "c_tau_ps": 0.8}
    with caplog.at_level(logging.WARNING, logger="tifusion.properties.simulation"):
        warn_unresolved(result, ("a", "c"), "hcp 323 K", 3.0)
    assert "c (0.8 ps)" in caplog.text and "a (" not in caplog.text and "lower bounds" in caplog.text
    caplog.clear()
    warn_unresolved(result, ("a",), "hcp 323 K", 3.0)
    assert caplog.text == ""
