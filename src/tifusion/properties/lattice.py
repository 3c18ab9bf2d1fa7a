"""hcp lattice constants a and c by NPT: versus temperature at zero pressure, versus pressure at 300 K.

The cell is the authors' 5x5x3 hcp box (c along z) at experimental lattice constants; the
barostat is stochastic cell rescaling (:func:`tifusion.md.npt.run_npt`) with a coupling that
lets c/a relax (``semiisotropic``: a and c independent, the basal hexagon keeps its shape).
The stock isotropic barostat of jax-md would keep the experimental c/a (docs/method.md §9).
a and c are read from the box of every production frame: a = mean of |a1|/n1 and |a2|/n2,
c = |a3|/n3. Means and standard errors from the integrated autocorrelation time of each series
(:func:`tifusion.observables.statistics.correlated_average`), not from a fixed number of blocks: the
box wanders on the barostat's slow time scale, and five 0.12-ps blocks of a 0.6-ps run gave c errors
of ~0.1 % while its two halves differed by 0.24-0.39 %. Each quantity's correlation time is saved
(``{name}_tau_ps``) with whether the run resolved it (``{name}_resolved``: at least 50 correlation
times long); an unresolved error is a lower bound, and the run says so in its log.
Internal units (nm, kJ/mol/nm^3).
"""
import logging
from pathlib import Path

import numpy as np

from tifusion.data.experiment import EXPERIMENTAL_REPEAT, experimental_cell
from tifusion.md.steps import frame_steps, stage_steps
from tifusion.observables.elasticity import pressure
from tifusion.observables.statistics import correlated_average
from tifusion.properties.simulation import (Checkpoint, Stage, fingerprint, initial_state, npt_settings, run_property,
                                            run_stages, segment_steps, stack_results, state_key, warn_unresolved)
from tifusion.units import GPA

log = logging.getLogger(__name__)


def hcp_lattice_constants(boxes, repeat=EXPERIMENTAL_REPEAT):
    """(a [F], c [F]) in nm from hcp supercell boxes [F, 3, 3] (columns n1 a1, n2 a2, n3 c)."""
    boxes = np.asarray(boxes)
    lengths = np.linalg.norm(boxes, axis=1) / np.asarray(repeat, dtype=float)  # [F, 3] per lattice vector
    return 0.5 * (lengths[:, 0] + lengths[:, 1]), lengths[:, 2]


def npt_cell_frames(frames):
    """``Stage.keep`` of an NPT production run: boxes and the instantaneous scalar pressure."""
    volume = np.abs(np.linalg.det(np.asarray(frames.box)))
    return {"box": frames.box, "pressure": pressure(frames.virial, frames.kinetic, volume)}


def npt_lattice(potential, params, positions, box, temperature_K, pressure_GPa, protocol, key, checkpoint=None,
                label="", repeat=EXPERIMENTAL_REPEAT, capacity=0):
    """a, c, c/a, volume per atom and pressure (means and ``_err``) of one NPT state point, and the series.

    ``protocol``: dt_ps, equilibration_ps, production_ps, frame_interval_ps, coupling, barostat,
    friction_per_ps, skin_nm, checkpoint_ps. Returns (results, final MD state);
    ``capacity``: at least this many neighbour slots.
    """
    n_production, interval = frame_steps(protocol, "production_ps")
    md = npt_settings(protocol, temperature_K, pressure_GPa)
    stages = [Stage("npt_equilibration", "npt", stage_steps(protocol, "equilibration_ps", interval), interval, md),
              Stage("npt_production", "npt", n_production, interval, md, npt_cell_frames)]
    state = initial_state(key, positions, box, temperature_K, potential, params, capacity)
    state, kept = run_stages(potential, params, state, stages, checkpoint, segment_steps(protocol), label)
    kept = kept["npt_production"]
    a, c = hcp_lattice_constants(kept["box"], repeat)
    series = {"a": a, "c": c, "c_over_a": c / a,
              "volume_per_atom": np.abs(np.linalg.det(kept["box"])) / len(positions), "pressure": kept["pressure"]}
    result = {}
    for name, values in series.items():
        result[name], result[f"{name}_err"], tau, result[f"{name}_resolved"] = correlated_average(values)
        result[f"{name}_tau_ps"] = tau * interval * protocol["dt_ps"]
    result["a_series"], result["c_series"] = a, c
    warn_unresolved(result, ("a", "c", "pressure"), label, protocol["production_ps"])
    log.info("%s: a %.5f +- %.5f nm, c %.5f +- %.5f nm, c/a %.4f, P %.2f GPa", label, result["a"],
             result["a_err"], result["c"], result["c_err"], result["c_over_a"], result["pressure"] / GPA)
    return result, state


def lattice_at_points(potential, params, protocol, seed, checkpoint_dir, points, prop):
    """NPT lattice at (temperature, pressure, initial-cell temperature) points; stacked arrays."""
    results, capacity = [], 0
    for temperature, pressure_GPa, cell_temperature in points:
        positions, box = experimental_cell(cell_temperature)
        name = f"T{temperature:g}K_P{pressure_GPa:g}GPa"
        digest = fingerprint(potential, params, protocol=protocol, seed=seed, point=name)
        checkpoint = Checkpoint(None if checkpoint_dir is None else Path(checkpoint_dir) / name, digest)
        label = f"{prop} {temperature:g} K {pressure_GPa:g} GPa"
        result, state = npt_lattice(potential, params, positions, box, temperature, pressure_GPa, protocol,
                                    state_key(seed, prop, name), checkpoint, label, capacity=capacity)
        results.append(result)
        capacity = int(state.capacity)
    stacked = stack_results(results)
    _, interval = frame_steps(protocol, "production_ps")
    stacked["time_ps"] = protocol["dt_ps"] * interval * np.arange(1, stacked["a_series"].shape[1] + 1)
    stacked["temperature_K"] = np.array([p[0] for p in points], dtype=float)
    stacked["target_pressure"] = np.array([p[1] for p in points], dtype=float) * GPA
    return stacked


def lattice_temperature(potential, params, protocol, seed, checkpoint_dir=None):
    """a(T), c(T) at zero pressure; each temperature starts from its experimental cell."""
    points = [(float(t), 0.0, float(t)) for t in protocol["temperatures_K"]]
    return lattice_at_points(potential, params, protocol, seed, checkpoint_dir, points, "lattice_temperature")


def lattice_pressure(potential, params, protocol, seed, checkpoint_dir=None):
    """a(P), c(P) at ``temperature_K``, from the experimental cell at ``initial_cell_K`` (a table row)."""
    points = [(float(protocol["temperature_K"]), float(p), float(protocol["initial_cell_K"]))
              for p in protocol["pressures_GPa"]]
    return lattice_at_points(potential, params, protocol, seed, checkpoint_dir, points, "lattice_pressure")


def run_lattice_temperature(model_path, protocol, output_path, seed, checkpoint_dir=None):
    """The ``lattice_temperature`` rule: ``results/properties/{model}/lattice_temperature.npz``."""
    return run_property(lattice_temperature, model_path, protocol, output_path, seed, checkpoint_dir)


def run_lattice_pressure(model_path, protocol, output_path, seed, checkpoint_dir=None):
    """The ``lattice_pressure`` rule: ``results/properties/{model}/lattice_pressure.npz``."""
    return run_property(lattice_pressure, model_path, protocol, output_path, seed, checkpoint_dir)
