"""A trained model from Python, in the units users expect: eV, Angstrom, GPa, K, ps, THz.

The pipeline writes models as ``results/<run>/models/<model>/model.npz``; these functions load one and run the same
property code the pipeline runs (docs/method.md §7), with the MD protocol given by keyword arguments (defaults:
the embedded default's protocols, shortened for a CPU). Results are pandas DataFrames or dicts of numpy arrays.

    import tifusion
    model = tifusion.load("results/default/models/dft_exp_fused/model.npz")
    atoms.calc = model.calculator()                       # ASE: eV, eV/Angstrom, eV/Angstrom^3 (ASE's sign)
    tifusion.elastic_constants(model, [323])              # C_ij, K, G (GPa), nu, P with jackknife errors
    tifusion.lattice_constants(model, [323])              # a, c (Angstrom) by NPT
    tifusion.phonon_dispersion(model)                     # THz along Gamma-M-K-Gamma-A
    tifusion.molecular_dynamics(model, atoms, 300, 1.0, "md.traj")   # Langevin NVT to an ASE trajectory
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tifusion.units import ANGSTROM, ANGSTROM_PER_FS, EV, FEMTOSECOND, GPA, kT

ELASTIC_QUANTITIES = ("C11", "C33", "C44", "C12", "C13", "K", "G", "nu", "pressure")
MD_DEFAULTS = {"dt_ps": 0.002, "friction_per_ps": 4.0, "nose_hoover_tau_ps": 0.05, "skin_nm": 0.0,
               "checkpoint_ps": None, "barostat": {"tau_ps": 0.2, "compressibility_per_GPa": 0.01}, "n_blocks": 5}


@dataclass(frozen=True)
class Model:
    """A loaded model file: its potential (architecture), parameters and training record."""
    path: Path
    potential: object
    params: dict
    metadata: dict
    hyperparameters: dict = None

    def in_float64(self):
        """The same model evaluated in float64 (static relaxations stall in float32, see properties.static.hcp_zero_kelvin)."""
        from tifusion.model.dimenet import make_dimenet

        if not self.hyperparameters or self.hyperparameters.get("dtype") == "float64":
            return self
        return Model(self.path, make_dimenet(dict(self.hyperparameters, dtype="float64")), self.params,
                     self.metadata, dict(self.hyperparameters, dtype="float64"))

    def calculator(self, capacity=None):
        """An ASE calculator of this model (eV, Angstrom; stress in eV/Angstrom^3 with ASE's sign)."""
        from tifusion.calculator import PotentialCalculator

        return PotentialCalculator(self.potential, self.params, capacity=capacity)


def load(path):
    """Load a model file written by the pipeline (errors name the file and the entry that is wrong)."""
    from tifusion.model.io import load_model

    potential, params, hyperparameters, metadata = load_model(path)
    return Model(Path(path), potential, params, metadata, hyperparameters)


def _model(model):
    return model if isinstance(model, Model) else load(model)


def _protocol(**section):
    from tifusion.properties import check_protocol_times

    protocol = {**MD_DEFAULTS, **section}
    check_protocol_times(protocol)
    return protocol


def elastic_constants(model, temperatures_K, production_ps=9.0, equilibration_ps=1.35, frame_interval_ps=0.45,
                      seed=0):
    """hcp C11, C33, C44, C12, C13, Voigt K and G (GPa), Poisson ratio and pressure (GPa) by NVT stress
    fluctuations in the 150-atom box at the experimental lattice constants of each temperature (a row of the
    experimental table, 4-973 K). One row per temperature; ``<name>_err`` columns are jackknife errors."""
    from tifusion.properties.elastic import hcp_elastic

    model = _model(model)
    protocol = _protocol(temperatures_K=[float(t) for t in np.atleast_1d(temperatures_K)], thermostat="langevin",
                         equilibration_ps=equilibration_ps, production_ps=production_ps,
                         frame_interval_ps=frame_interval_ps)
    result = hcp_elastic(model.potential, model.params, protocol, seed)
    columns = {"temperature_K": result["temperature_K"]}
    for name in ELASTIC_QUANTITIES:
        scale, suffix = (1.0, "") if name == "nu" else (1.0 / GPA, "_GPa")
        columns[name + suffix] = np.asarray(result[name]) * scale
        columns[f"{name}_err{suffix}"] = np.asarray(result[f"{name}_err"]) * scale
    return pd.DataFrame(columns)


def lattice_constants(model, temperatures_K, pressure_GPa=0.0, production_ps=3.0, equilibration_ps=1.0,
                      frame_interval_ps=0.02, seed=0):
    """hcp a and c (Angstrom) with errors by NPT (stochastic cell rescaling, a and c free) at each temperature and
    ``pressure_GPa``, each run starting from the experimental cell of its temperature (a row of the experimental
    table)."""
    from tifusion.properties.lattice import lattice_at_points

    model = _model(model)
    protocol = _protocol(equilibration_ps=equilibration_ps, production_ps=production_ps,
                         frame_interval_ps=frame_interval_ps, coupling="semiisotropic")
    points = [(float(t), float(pressure_GPa), float(t)) for t in np.atleast_1d(temperatures_K)]
    result = lattice_at_points(model.potential, model.params, protocol, seed, None, points, "lattice")
    return pd.DataFrame({"temperature_K": result["temperature_K"], "pressure_GPa": result["target_pressure"] / GPA,
                         "a_angstrom": result["a"] / ANGSTROM, "a_err_angstrom": result["a_err"] / ANGSTROM,
                         "c_angstrom": result["c"] / ANGSTROM, "c_err_angstrom": result["c_err"] / ANGSTROM})


def phonon_dispersion(model, lattice="relaxed", temperature_K=298.0, supercell=(3, 3, 2), displacement_angstrom=0.01,
                      points_per_segment=31, mesh=(12, 12, 8)):
    """Harmonic phonons of hcp (phonopy finite displacements) at the model's relaxed lattice or the experimental one
    of ``temperature_K``: {"a", "c" (Angstrom), "distances" (1/Angstrom, with 2 pi), "frequencies" [points, 6] (THz),
    "labels", "label_distances", "dos_frequencies" (THz), "dos" (states/THz/cell)}."""
    from tifusion.properties.dispersion import phonon_dispersion as dispersion

    model = _model(model)
    if lattice == "relaxed":
        model = model.in_float64()
    protocol = {"lattice": lattice, "temperature_K": temperature_K, "supercell": list(supercell),
                "displacement_nm": displacement_angstrom * ANGSTROM, "points_per_segment": points_per_segment,
                "mesh": list(mesh)}
    result = dispersion(model.potential, model.params, protocol)
    return {**result, "a": float(result["a"]) / ANGSTROM, "c": float(result["c"]) / ANGSTROM,
            "distances": np.asarray(result["distances"]) * ANGSTROM,
            "label_distances": np.asarray(result["label_distances"]) * ANGSTROM}


def molecular_dynamics(model, atoms, temperature_K, time_ps, trajectory, interval_ps=0.01, timestep_fs=2.0,
                       friction_per_ps=4.0, seed=0):
    """Langevin NVT of ASE ``atoms`` (periodic cell) with this model, a frame every ``interval_ps`` written to
    ``trajectory`` (an ASE trajectory file: positions in Angstrom, energies in eV, momenta); returns its path."""
    import jax
    from ase import units
    from ase.io import Trajectory

    from tifusion.md.nvt import run_nvt
    from tifusion.md.state import default_capacity, init_state
    from tifusion.md.steps import to_steps

    model = _model(model)
    if not all(atoms.pbc) or atoms.cell.rank < 3:
        raise ValueError(f"molecular_dynamics needs a periodic cell in all three directions, got pbc={atoms.pbc}, "
                         f"cell rank {atoms.cell.rank}")
    if set(atoms.get_chemical_symbols()) != {"Ti"}:
        raise ValueError(f"the model is for titanium; atoms contain {sorted(set(atoms.get_chemical_symbols()))}")
    dt = timestep_fs * FEMTOSECOND
    interval = to_steps(interval_ps, dt, "interval_ps")
    n_steps = to_steps(time_ps, dt, "time_ps")
    n_steps -= n_steps % interval
    positions = np.asarray(atoms.get_positions()) * ANGSTROM
    box = np.asarray(atoms.cell).T * ANGSTROM  # columns are the cell vectors
    capacity = default_capacity(positions, box, model.potential.cutoff)
    state = init_state(jax.random.PRNGKey(seed), positions, box, kT(temperature_K), model.potential, model.params,
                       capacity=capacity)
    _, frames = run_nvt(model.potential, model.params, state, n_steps, interval, kT=kT(temperature_K), dt=dt,
                        friction=friction_per_ps, skin=0.0, label=f"md {temperature_K:g} K")
    momentum_to_ase = 1.0 / (ANGSTROM_PER_FS * units.fs)  # u nm/ps -> u Angstrom per ASE time unit
    trajectory = Path(trajectory)
    with Trajectory(str(trajectory), "w") as out:
        for i in range(frames.positions.shape[0]):
            snapshot = atoms.copy()
            snapshot.set_positions(np.asarray(frames.positions[i]) / ANGSTROM)
            snapshot.set_momenta(np.asarray(frames.momenta[i]) * momentum_to_ase)
            snapshot.info["energy_eV"] = float(frames.energy[i]) / EV
            snapshot.info["time_ps"] = float(frames.step[i]) * dt
            out.write(snapshot)
    return trajectory

