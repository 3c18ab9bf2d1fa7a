"""Table 2 (bcc elastic constants at 1273 K), the EXP training targets per model, the static (0 K) hcp elastic
constants per model against the teacher and experiment, and the comparison of a run's headline numbers with the
paper.

Inputs are the property files of :mod:`tifusion.properties.elastic` and
:mod:`tifusion.properties.lattice` (internal units) and Table 1 of the DFT evaluation (meV
units); outputs are in the paper's units (GPa, percent, meV). Units are converted here only.

Deviations from experiment (``paper_comparison``), over the temperatures the run simulated
(the paper: all 22 from 4 to 973 K):

- ``mean_rel_dev_<X>``: mean over temperatures of |X_model / X_exp - 1|, in percent, for the
  Voigt bulk modulus K, shear modulus G and Poisson ratio nu (the paper's 6/24/9 % for the
  pre-trained model);
- ``max_rel_dev_K_G_nu``: the largest of those three means (the paper: below 3 % for the
  EXP-trained models);
- ``max_rel_dev_lattice_constants``: the larger of the mean relative deviations of a and c
  from NPT at zero pressure (the paper: below 0.1 % for the fused model).

Off-target rows (:mod:`tifusion.properties.offtarget`) put the model next to measured data in the
``experiment`` column: phonon rms deviations (pooled and per branch), g(r) peak positions and height,
and D at the measured temperatures.
"""
import logging
from typing import NamedTuple

import numpy as np
import pandas as pd

from tifusion.data.experiment import load_bcc_elastic, load_hcp_experiment, load_paper_reported_values
from tifusion.observables.elasticity import HEXAGONAL_CONSTANTS, voigt_moduli
from tifusion.properties import offtarget
from tifusion.properties.dft_errors import VIRIAL_DEFINITION
from tifusion.units import ANGSTROM, GPA

log = logging.getLogger(__name__)

BCC_CONSTANTS = ("C11", "C12", "C44")
TABLE2_COLUMNS = ["source", "kind", "temperature_K"] + [f"{name}_{kind}" for name in BCC_CONSTANTS
                                                         for kind in ("GPa", "err_GPa")] + ["reference"]
TABLE1_QUANTITIES = ("energy_rmse", "energy_mae", "energy_rmse_shift_corrected", "energy_mae_shift_corrected",
                     "force_rmse", "force_mae", "virial_rmse", "virial_mae")
EXP_TARGET_COLUMNS = (["source", "kind", "model", "temperature_K", "trained_at"]
                      + [f"{name}_{kind}" for name in HEXAGONAL_CONSTANTS + ("pressure",)
                         for kind in ("GPa", "err_GPa")]
                      + [f"{name}_dev_GPa" for name in HEXAGONAL_CONSTANTS]
                      + ["energy_rmse_meV_per_atom", "force_rmse_meV_per_angstrom"])
STATIC_CONSTANTS = ("C11", "C12", "C13", "C33", "C44", "C66")
STATIC_COLUMNS = (["source", "kind", "model", "a_angstrom", "c_angstrom", "c_over_a"]
                  + [f"{name}_GPa" for name in STATIC_CONSTANTS] + ["note"])
MODULI = {"K": "bulk_modulus", "G": "shear_modulus", "nu": "poisson_ratio"}
COMPARISON_COLUMNS = ["quantity", "model", "label", "paper_model", "this_run", "paper", "experiment", "unit", "where",
                      "definition", "comparable"]
NOT_COMPARABLE = {"virial_rmse": "virial definitions differ", "virial_mae": "virial definitions differ"}


def read_npz(path):
    """The arrays of a property file (without its metadata entry)."""
    with np.load(path) as data:
        return {key: data[key] for key in data.files if key != "metadata"}


def table2(bcc_by_model, labels, experiment=None):
    """One row per model (with block errors), then the experimental references (GPa)."""
    experiment = load_bcc_elastic() if experiment is None else experiment
    rows = []
    for name, result in bcc_by_model.items():
        row = {"source": labels.get(name, name), "kind": "model", "temperature_K": float(result["temperature_K"]),
               "reference": name}
        for constant in BCC_CONSTANTS:
            row[f"{constant}_GPa"] = float(result[constant]) / GPA
            row[f"{constant}_err_GPa"] = float(result[f"{constant}_err"]) / GPA
        rows.append(row)
    for _, ref in experiment.iterrows():
        row = {"source": f"EXP {ref['source'].split(',')[0]}", "kind": "experiment",
               "temperature_K": float(ref["T_K"]), "reference": ref["source"]}
        for constant in BCC_CONSTANTS:
            row[f"{constant}_GPa"] = float(ref[f"{constant}_GPa"])
            row[f"{constant}_err_GPa"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


def exp_targets(hcp_by_model, dft_metrics, labels, training_temperatures, table=None):
    """The EXP trainer's targets per model: hcp C_ij and pressure (with block errors) against experiment.

    One row per (model, temperature of its hcp_elastic run), then the experimental rows at those
    temperatures (target pressure 0). ``<C>_dev_GPa`` is model minus experiment; ``trained_at``
    marks the model's EXP training temperatures (``training_temperatures`` {model: [K]});
    ``dft_metrics`` {model: the metrics of its DFT evaluation} gives the energy and force test
    RMSE (Table 1) on every row of the model.
    """
    table = load_hcp_experiment() if table is None else table
    temperatures = sorted({float(t) for result in hcp_by_model.values() for t in result["temperature_K"]})
    experiment = _rows(table, temperatures)
    rows = []
    for name, result in hcp_by_model.items():
        trained = {float(t) for t in training_temperatures.get(name, ())}
        for i, temperature in enumerate(result["temperature_K"]):
            temperature = float(temperature)
            row = {"source": labels.get(name, name), "kind": "model", "model": name, "temperature_K": temperature,
                   "trained_at": temperature in trained,
                   "energy_rmse_meV_per_atom": float(dft_metrics[name]["energy_rmse"]),
                   "force_rmse_meV_per_angstrom": float(dft_metrics[name]["force_rmse"])}
            for constant in HEXAGONAL_CONSTANTS + ("pressure",):
                row[f"{constant}_GPa"] = float(result[constant][i]) / GPA
                row[f"{constant}_err_GPa"] = float(result[f"{constant}_err"][i]) / GPA
            for constant in HEXAGONAL_CONSTANTS:
                row[f"{constant}_dev_GPa"] = row[f"{constant}_GPa"] - float(experiment.loc[temperature,
                                                                                         f"{constant}_GPa"])
            rows.append(row)
    for temperature in temperatures:
        row = {"source": "experiment", "kind": "experiment", "model": "", "temperature_K": temperature,
               "trained_at": False, "pressure_GPa": 0.0}
        for constant in HEXAGONAL_CONSTANTS:
            row[f"{constant}_GPa"] = float(experiment.loc[temperature, f"{constant}_GPa"])
        rows.append(row)
    return pd.DataFrame(rows, columns=EXP_TARGET_COLUMNS)


def experimental_moduli(temperatures, table=None):
    """Voigt K, G (GPa) and nu of the experimental elastic constants at ``temperatures`` (table rows)."""
    table = load_hcp_experiment() if table is None else table
    rows = _rows(table, temperatures)
    k, g, nu = voigt_moduli(rows["C11_GPa"].to_numpy(), rows["C12_GPa"].to_numpy(), rows["C13_GPa"].to_numpy(),
                            rows["C33_GPa"].to_numpy(), rows["C44_GPa"].to_numpy())
    return {"K": np.asarray(k), "G": np.asarray(g), "nu": np.asarray(nu)}


def _rows(table, temperatures):
    index = table.set_index("temperature_K")
    missing = [t for t in temperatures if t not in index.index]
    if missing:
        raise ValueError(f"temperatures {missing} K are not rows of the experimental table "
                         f"{table.attrs.get('source_file', '')}")
    return index.loc[list(temperatures)]


def elastic_deviations(hcp, table=None):
    """Mean relative deviations (percent) of K, G, nu from experiment, and their maximum."""
    temperatures = [float(t) for t in hcp["temperature_K"]]
    experiment = experimental_moduli(temperatures, table)
    model = {"K": hcp["K"] / GPA, "G": hcp["G"] / GPA, "nu": hcp["nu"]}
    deviation = {name: 100 * float(np.mean(np.abs(model[name] / experiment[name] - 1))) for name in MODULI}
    return deviation, max(deviation.values())


def lattice_deviation(lattice, table=None):
    """Larger of the mean relative deviations (percent) of a and c from experiment (NPT, P = 0)."""
    table = load_hcp_experiment() if table is None else table
    rows = _rows(table, [float(t) for t in lattice["temperature_K"]])
    return max(100 * float(np.mean(np.abs(lattice[name] / (rows[f"{name}_angstrom"].to_numpy() * ANGSTROM) - 1)))
               for name in ("a", "c"))


class Value(NamedTuple):
    """One number of a run for the paper comparison, with the measured value where one exists."""
    value: float
    unit: str
    definition: str
    experiment: float = np.nan


def run_values(model, table1_rows, bcc, hcp, lattice):
    """{quantity: Value} of one model's target and training numbers, from whichever inputs exist (None: absent)."""
    values = {}
    if table1_rows is not None and model in set(table1_rows["model"]):
        row = table1_rows.set_index("model").loc[model]
        for quantity in TABLE1_QUANTITIES:
            if quantity in row:
                unit = "meV/Angstrom" if quantity.startswith("force") else "meV/atom"
                definition = "DFT test set (Table 1)"
                if quantity.startswith("virial"):
                    definition += f"; virial {VIRIAL_DEFINITION}"
                values[quantity] = Value(float(row[quantity]), unit, definition)
    if bcc is not None:
        for constant in BCC_CONSTANTS:
            values[f"bcc_{constant}_1273K"] = Value(float(bcc[constant]) / GPA, "GPa",
                                                    f"bcc NVT at {float(bcc['temperature_K']):g} K (Table 2)")
    span = None
    if hcp is not None:
        deviation, largest = elastic_deviations(hcp)
        span = f"{len(hcp['temperature_K'])} temperatures {min(hcp['temperature_K']):g}-{max(hcp['temperature_K']):g} K"
        for name, long_name in MODULI.items():
            values[f"mean_rel_dev_{long_name}_4_973K"] = Value(deviation[name], "percent",
                                                               f"mean |{name}/{name}_exp - 1| over {span}")
        values["max_rel_dev_K_G_nu_4_973K"] = Value(largest, "percent", f"largest of the K, G, nu means over {span}")
    if lattice is not None:
        span = (f"{len(lattice['temperature_K'])} temperatures {min(lattice['temperature_K']):g}-"
                f"{max(lattice['temperature_K']):g} K")
        values["max_rel_dev_lattice_constants_4_973K"] = Value(lattice_deviation(lattice), "percent",
                                                               f"larger of the a, c mean deviations over {span}")
    return values


def off_target_values(model, phonons, structure, diffusion):
    """{quantity: Value} of one model's off-target numbers against measured data (None: not run)."""
    values = {}
    if phonons is not None:
        deviations = offtarget.phonon_deviations({model: phonons}, {})
        rms, n_points = offtarget.overall_phonon_rms(deviations)
        values["phonon_rms_all_branches"] = Value(rms, "THz", f"rms of model - measured over {n_points} points "
                                                              "(Stassis 1979, 295 K; nearest model band)")
        for row in deviations.itertuples():
            values[f"phonon_rms_{row.direction}_{row.branch}"] = Value(
                row.rms_THz, "THz", f"rms of model - measured over {row.n_points} points of this branch")
    if structure is not None:
        where = (f"g(r) at {float(structure['temperature_K']):g} K vs measured near 1960 K "
                 "(Holland-Moritz 2007), on the range both cover")
        for name, (model_value, measured) in offtarget.rdf_peak_comparison(structure).items():
            unit = "1" if name.endswith("height") else "Angstrom"
            values[f"rdf_{name}"] = Value(model_value, unit, where, measured)
    if diffusion is not None:
        temperatures, measured = offtarget.measured_diffusion()
        model_values = offtarget.diffusion_at(diffusion, temperatures)
        simulated = ", ".join(f"{t:g}" for t in np.asarray(diffusion["temperature_K"]))
        for temperature, model_value, measured_value in zip(temperatures, model_values, measured):
            values[f"self_diffusion_{temperature:.0f}K"] = Value(
                model_value * 1e9, "1e-9 m^2/s", f"Arrhenius line through the model's D at {simulated} K; "
                                                 "measured: Horbach 2009", measured_value * 1e9)
    return values


def paper_comparison(paper_models, labels, table1_rows=None, bcc=None, hcp=None, lattice=None, paper=None,
                     phonons=None, structure=None, diffusion=None):
    """This run's headline numbers next to the paper's and, for off-target properties, next to experiment; one row
    per (quantity, model).

    ``paper_models``: {model in this run: model name in the paper's table} (dft_pretrained,
    dft_exp_sequential, dft_exp_fused). ``bcc``, ``hcp``, ``lattice``, ``phonons``, ``structure`` (liquid),
    ``diffusion``: {model: property arrays} (models without a file are left out); ``table1_rows``: the Table 1
    CSV as a DataFrame. Rows: every quantity computed for a model, and every paper value of a mapped model (with
    an empty ``this_run`` if the run has no such number).
    """
    paper = load_paper_reported_values() if paper is None else paper
    rows = []
    for model, paper_model in paper_models.items():
        values = run_values(model, table1_rows, (bcc or {}).get(model), (hcp or {}).get(model),
                            (lattice or {}).get(model))
        values.update(off_target_values(model, (phonons or {}).get(model), (structure or {}).get(model),
                                        (diffusion or {}).get(model)))
        reported = paper[paper["model"] == paper_model].set_index("quantity")
        quantities = list(values) + [q for q in reported.index if q not in values]
        for quantity in quantities:
            value = values.get(quantity, Value(np.nan, None, "not computed by this run"))
            paper_row = reported.loc[quantity] if quantity in reported.index else None
            rows.append({"quantity": quantity, "model": model, "label": labels.get(model, model),
                         "paper_model": paper_model, "this_run": value.value,
                         "paper": np.nan if paper_row is None else float(paper_row["value"]),
                         "experiment": value.experiment,
                         "unit": value.unit if paper_row is None else paper_row["unit"],
                         "where": "" if paper_row is None else paper_row["where"], "definition": value.definition,
                         "comparable": comparability(quantity, value.value, paper_row)})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def comparability(quantity, value, paper_row):
    """"yes" if this run's number and the paper's measure the same thing, "not comparable: why" if not, "" when one
    of the two is missing."""
    if paper_row is None or np.isnan(value):
        return ""
    return f"not comparable: {NOT_COMPARABLE[quantity]}" if quantity in NOT_COMPARABLE else "yes"


def write_table2(bcc_paths, labels, table_path):
    """The ``table2`` rule: bcc elastic constants per model and the experimental references."""
    from tifusion.io import load_npz_metadata, noted_labels, provenance, write_csv

    labels = noted_labels(labels, {name: (load_npz_metadata(path) or {}).get("model_metadata")
                                   for name, path in bcc_paths.items()})
    frame = table2({name: read_npz(path) for name, path in bcc_paths.items()}, labels)
    write_csv(table_path, frame, provenance({"inputs": bcc_paths, "units": "GPa"}, None))


def write_exp_targets(hcp_paths, metrics_paths, labels, training_temperatures, table_path):
    """The ``exp_targets`` rule: hcp C_ij and pressure per model and temperature against experiment."""
    from tifusion.io import noted_labels, provenance, read_json, write_csv

    records = {name: read_json(path) for name, path in metrics_paths.items()}
    metrics = {name: record["metrics"] for name, record in records.items()}
    labels = noted_labels(labels, {name: record["provenance"].get("model_metadata") for name, record in records.items()})
    frame = exp_targets({name: read_npz(path) for name, path in hcp_paths.items()}, metrics, labels,
                        training_temperatures)
    write_csv(table_path, frame, provenance({"inputs": {"hcp": hcp_paths, "dft_errors": metrics_paths},
                                             "units": "GPa, meV/atom, meV/Angstrom"}, None))


def lowest_temperature_experiment(table=None):
    """The row of the experimental hcp table closest to 0 K (4 K)."""
    return (load_hcp_experiment() if table is None else table).sort_values("temperature_K").iloc[0]


def static_elastic(zero_kelvin_by_model, labels, teacher=None, table=None):
    """Static hcp per model (:func:`tifusion.properties.static.hcp_zero_kelvin`), the teacher's, experiment at 4 K.

    ``teacher``: (label, zero-kelvin dict) of the potential that labelled the training data, or None
    (DFT data). A model whose value is a string (why it has no relaxed hcp) gets NaNs and that note.
    The experimental C66 is (C11 - C12) / 2.
    """
    def row(source, kind, model, values):
        if isinstance(values, str):
            return {"source": source, "kind": kind, "model": model, "note": values}
        return {"source": source, "kind": kind, "model": model, "a_angstrom": values["a"] / ANGSTROM,
                "c_angstrom": values["c"] / ANGSTROM, "c_over_a": values["c"] / values["a"],
                **{f"{name}_GPa": float(values[name]) for name in STATIC_CONSTANTS}, "note": ""}

    rows = [row(labels.get(name, name), "model", name, values) for name, values in zero_kelvin_by_model.items()]
    if teacher is not None:
        rows.append(row(teacher[0], "teacher", "", teacher[1]))
    experiment = lowest_temperature_experiment(table)
    constants = {name: experiment[f"{name}_GPa"] for name in STATIC_CONSTANTS if name != "C66"}
    rows.append(row(f"experiment {experiment['temperature_K']:g} K", "experiment", "",
                    {"a": experiment["a_angstrom"] * ANGSTROM, "c": experiment["c_angstrom"] * ANGSTROM, **constants,
                     "C66": (constants["C11"] - constants["C12"]) / 2}))
    return pd.DataFrame(rows, columns=STATIC_COLUMNS)


def write_static_elastic(model_paths, labels, table_path, teacher=False):
    """The ``static_elastic`` rule: relaxed-ion 0 K hcp constants of each model file (and, if ``teacher``, of the
    embedded dataset's teacher potential).

    Models are evaluated in float64 whatever their training dtype (see :func:`hcp_zero_kelvin`).
    """
    from tifusion.data.embedded import TEACHER, TEACHER_LABEL
    from tifusion.io import noted_labels, provenance, write_csv
    from tifusion.model.dimenet import make_dimenet
    from tifusion.model.io import load_model
    from tifusion.properties.static import hcp_zero_kelvin

    experiment = lowest_temperature_experiment()
    guess = (experiment["a_angstrom"] * ANGSTROM, experiment["c_angstrom"] * ANGSTROM)
    zero_kelvin, metadata = {}, {}
    for name, path in model_paths.items():
        _, params, hyperparameters, metadata[name] = load_model(path)
        potential = make_dimenet(dict(hyperparameters, dtype="float64"))  # see hcp_zero_kelvin
        try:
            zero_kelvin[name] = hcp_zero_kelvin(potential, params, *guess)
        except (RuntimeError, ValueError) as err:  # no stable hcp near experiment: a result, not a crash
            zero_kelvin[name] = str(err)
            log.warning("static_elastic: %s (%s): %s", name, path, err)
    reference = (f"{TEACHER_LABEL} (teacher)", hcp_zero_kelvin(TEACHER, None, *guess)) if teacher else None
    frame = static_elastic(zero_kelvin, noted_labels(labels, metadata), reference)
    method = "relaxed 2-atom cell, relaxed-ion elastic tensor (0 K), models in float64"
    write_csv(table_path, frame, provenance({"inputs": model_paths, "units": "Angstrom, GPa", "method": method}, None))


def write_paper_comparison(paper_models, labels, table_path, table1_path=None, bcc_paths=None, hcp_paths=None,
                           lattice_paths=None, phonon_paths=None, structure_paths=None, diffusion_paths=None):
    """The ``paper_comparison`` rule: read the inputs that exist for each model and write the CSV."""
    from tifusion.io import load_npz_metadata, noted_labels, provenance, write_csv

    def load(paths):
        return {name: read_npz(path) for name, path in (paths or {}).items()}

    labels = noted_labels(labels, {name: (load_npz_metadata(path) or {}).get("model_metadata")
                                   for name, path in (hcp_paths or {}).items()})
    table1_rows = pd.read_csv(table1_path) if table1_path else None
    frame = paper_comparison(paper_models, labels, table1_rows, load(bcc_paths), load(hcp_paths), load(lattice_paths),
                             phonons=load(phonon_paths), structure=load(structure_paths),
                             diffusion=load(diffusion_paths))
    inputs = {"table1": table1_path, "bcc": bcc_paths, "hcp": hcp_paths, "lattice": lattice_paths,
              "phonons": phonon_paths, "liquid_structure": structure_paths, "self_diffusion": diffusion_paths}
    write_csv(table_path, frame, provenance({"inputs": inputs, "paper_models": paper_models}, None))
