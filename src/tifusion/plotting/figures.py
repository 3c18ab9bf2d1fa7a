"""Figures 3-7 of the paper from the property files (internal units; converted to GPa, Angstrom, m^2/s here).

Every figure function takes ``{model: property arrays}`` (models in plotting order) and
``styles`` = ``{model: (label, colour)}`` and returns a matplotlib figure; the ``plot_fig*``
functions read the files of a rule and save PDF and PNG with a provenance sidecar. Experiment
is drawn in black, dashed; a reference that is only derived from other data says so in its
legend label, and a missing one in a note on the panel.
"""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tifusion.data.experiment import (load_acoustic_slopes, load_hcp_experiment, load_lattice_vs_pressure,
                                      load_liquid_rdf, load_phonon_dos, load_self_diffusion,
                                      load_self_diffusion_series, measured_adf_per_degree)
from tifusion.io import load_npz_metadata, provenance
from tifusion.observables.dynamics import arrhenius_fit
from tifusion.properties.offtarget import measured_on_path, phonon_deviations
from tifusion.plotting.style import REFERENCE_STYLE, model_style, save_figure
from tifusion.properties.tables import experimental_moduli, read_npz
from tifusion.units import ANGSTROM, GPA, M2_PER_S, kT

ERRORBAR = dict(marker="o", markersize=3.5, capsize=2, linewidth=1.2)
MISSING = dict(ha="center", va="center", fontsize=7, color="0.4", wrap=True)


LOWER_BOUND_NOTE = ("Open symbols: the MD run was shorter than 50 correlation times of that quantity, so its error bar "
                    "is a lower bound (lengthen production_ps).")


def _errorbar(ax, x, y, err, color, label, resolved=None):
    """Points with error bars; where ``resolved`` is False (an error that is only a lower bound) the marker is open.
    Returns whether any marker is open."""
    x, y = np.asarray(x), np.asarray(y)
    ax.errorbar(x, y, yerr=np.asarray(err), color=color, label=label, **ERRORBAR)
    if resolved is None or np.all(resolved):
        return False
    lower_bound = ~np.asarray(resolved, bool)
    ax.plot(x[lower_bound], y[lower_bound], linestyle="none", marker=ERRORBAR["marker"],
            markersize=ERRORBAR["markersize"], markerfacecolor="white", markeredgecolor=color, zorder=3)
    return True


def _legend(ax, **options):
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**options)


def _note(ax, text, y=0.5):
    ax.text(0.5, y, text, transform=ax.transAxes, **MISSING)


def _footnote(fig, text):
    """A line under the panels (for references that are missing or only derived)."""
    fig.text(0.01, -0.01, text, ha="left", va="top", fontsize=7, color="0.3")


def elastic_lattice_figure(hcp, lattice, styles):
    """Figs. 3 and 7: K (a), G (b), nu (c), a (d), c (e) vs temperature, experiment dashed.

    ``hcp``: {model: hcp_elastic arrays}; ``lattice``: {model: lattice_temperature arrays}.
    """
    experiment = load_hcp_experiment()
    temperatures = experiment["temperature_K"].to_numpy()
    moduli = experimental_moduli(temperatures, experiment)
    fig, axes = plt.subplots(2, 3, figsize=(12, 7))
    axes = axes.ravel()
    panels = [("K", "bulk modulus K (GPa)", 1 / GPA, moduli["K"], hcp),
              ("G", "shear modulus G (GPa)", 1 / GPA, moduli["G"], hcp),
              ("nu", "Poisson's ratio ν", 1.0, moduli["nu"], hcp),
              ("a", "lattice constant a (Å)", 1 / ANGSTROM, experiment["a_angstrom"].to_numpy(), lattice),
              ("c", "lattice constant c (Å)", 1 / ANGSTROM, experiment["c_angstrom"].to_numpy(), lattice)]
    lower_bounds = False
    for ax, letter, (name, ylabel, scale, reference, data) in zip(axes, "abcde", panels):
        ax.plot(temperatures, reference, label="experiment", **REFERENCE_STYLE)
        for model, result in data.items():
            label, color = styles[model]
            lower_bounds |= _errorbar(ax, result["temperature_K"], result[name] * scale, result[f"{name}_err"] * scale,
                                      color, label, result.get(f"{name}_resolved"))
        if not data:
            _note(ax, "no model results")
        ax.set_xlabel("temperature (K)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"({letter})", loc="left")
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:5]:  # models missing from panel (a) still get a legend entry
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    axes[5].axis("off")
    axes[5].legend(handles, labels, loc="center", frameon=False)
    fig.tight_layout()
    if lower_bounds:
        _footnote(fig, LOWER_BOUND_NOTE)
    return fig


def _acoustic_lines(ax, result, slopes):
    """Derived long-wavelength acoustic slopes from Gamma, on the Gamma-M, K-Gamma and Gamma-A segments."""
    labels = list(result["labels"])
    corners = np.asarray(result["label_distances"])
    drawn = False
    for i, (start, end) in enumerate(zip(labels[:-1], labels[1:])):
        if "Gamma" not in (start, end):
            continue
        basal = "A" not in (start, end)
        rows = slopes[slopes["direction"].str.startswith("basal" if basal else "Gamma-A")]
        gamma, other = (corners[i], corners[i + 1]) if start == "Gamma" else (corners[i + 1], corners[i])
        k = np.linspace(0.0, 0.35 * abs(other - gamma), 20)  # 1/nm (with 2 pi), from Gamma
        for slope in rows["slope_THz_Angstrom"]:
            frequency = slope * ANGSTROM * k  # THz; slope is d(nu)/dk with k in 1/Angstrom
            ax.plot(gamma + np.sign(other - gamma) * k, frequency, label=None if drawn else
                    "acoustic slopes derived from ultrasonic $C_{ij}$", **REFERENCE_STYLE)
            drawn = True


def phonon_figure(phonons, styles):
    """Fig. 4: dispersion along Gamma-M-K-Gamma-A with the measured points, one panel per model, and the models'
    DOS vs Stassis 1979."""
    slopes = load_acoustic_slopes()
    dos_experiment = load_phonon_dos()
    n = max(1, len(phonons))
    fig, axes = plt.subplots(1, n + 1, figsize=(3.6 * (n + 1), 3.8),
                             gridspec_kw={"width_ratios": [1.4] * n + [1.0]})
    axes = np.atleast_1d(axes)
    for ax, letter, (model, result) in zip(axes, "abcdefg", phonons.items()):
        label, color = styles[model]
        distances = np.asarray(result["distances"])
        ax.plot(distances, result["frequencies"], color=color, linewidth=1.2)
        _acoustic_lines(ax, result, slopes)
        measured = measured_on_path(result)
        ax.errorbar(measured["path_coordinate"], measured["nu_THz"], yerr=measured["sigma_THz"], fmt="o",
                    color="black", markersize=2.5, capsize=1.5, linewidth=0.8,
                    label="measured, 295 K (Stassis 1979)")
        for x in result["label_distances"]:
            ax.axvline(x, color="0.7", linewidth=0.6)
        ax.set_xticks(result["label_distances"])
        ax.set_xticklabels(["Γ" if name == "Gamma" else str(name) for name in result["labels"]])
        ax.set_xlim(distances[0], distances[-1])
        ax.set_ylim(bottom=0)
        ax.set_ylabel("frequency (THz)")
        ax.set_title(f"({letter}) {label}", loc="left", fontsize=9)
        _legend(ax, fontsize=6, loc="upper right")
    if not phonons:
        _note(axes[0], "no model results")
    dos_ax = axes[-1]
    dos_ax.plot(dos_experiment["frequency_THz"], dos_experiment["vdos_norm"],
                label="Stassis 1979 (295 K, force-constant fit)", **REFERENCE_STYLE)
    for model, result in phonons.items():
        label, color = styles[model]
        dos = np.asarray(result["dos"])
        dos_ax.plot(result["dos_frequencies"], dos / dos.max(), color=color, label=label)
    dos_ax.set_xlabel("frequency (THz)")
    dos_ax.set_ylabel("DOS (max = 1)")
    dos_ax.set_title(f"({'abcdefg'[len(phonons)]}) density of states", loc="left", fontsize=9)
    _legend(dos_ax, fontsize=6)
    fig.tight_layout()
    _footnote(fig, "Points: inelastic neutron scattering at 295 K (Stassis et al. 1979), Γ-K-M read as (ζ, ζ, 0); "
                   "dashed lines from Γ: acoustic slopes derived from ultrasonic elastic constants (293 K).")
    return fig


def liquid_figure(structure, diffusion, styles):
    """Fig. 5: RDF (a) and ADF (b) at 1965 K against the measured curves; self-diffusion D(T) (c) against the
    measured points and their Arrhenius line."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    rdf = load_liquid_rdf()
    axes[0].plot(rdf["r_angstrom"], rdf["g_r"], "k--", linewidth=1, label="experiment (Holland-Moritz 2007)")
    theta, adf = measured_adf_per_degree()
    axes[1].plot(theta, adf, "k--", linewidth=1, label="experiment (Kim 2007, RMC)")
    for model, result in structure.items():
        label, color = styles[model]
        axes[0].plot(result["r"] / ANGSTROM, result["g"], color=color, label=label)
        axes[1].plot(result["theta"], result["adf"], color=color, label=label)
    for ax, letter in zip(axes[:2], "ab"):
        ax.set_title(f"({letter})", loc="left")
    axes[0].set_xlabel("r (Å)")
    axes[0].set_ylabel("g(r)")
    axes[1].set_xlabel("angle θ (degrees)")
    axes[1].set_ylabel("ADF (1/degree, unit area)")
    if structure:
        temperature = float(next(iter(structure.values()))["temperature_K"])
        r_max = float(next(iter(structure.values()))["adf_r_max"]) / ANGSTROM
        axes[0].set_title(f"{temperature:g} K", loc="right", fontsize=9)
        axes[1].set_title(f"{temperature:g} K, triplets within {r_max:g} Å", loc="right", fontsize=9)
    series, point = load_self_diffusion_series(), load_self_diffusion()
    d0, activation = arrhenius_fit(series["T_K"], series["D_m2_per_s"])
    line_t = np.linspace(series["T_K"].min() - 30, series["T_K"].max() + 30, 50)
    axes[2].plot(line_t, d0 * np.exp(-activation / kT(line_t)) * 1e9, "k--", linewidth=1,
                 label=f"Arrhenius fit, E$_a$ = {activation:.0f} kJ/mol")
    axes[2].plot(series["T_K"], series["D_m2_per_s"] * 1e9, "ko", markersize=4, label="experiment (Horbach 2009)")
    axes[2].errorbar(point["T_K"], point["D_m2_per_s"] * 1e9, yerr=point["D_err_m2_per_s"] * 1e9,
                     color="black", marker="s", linestyle="none", capsize=3, label="experiment (Meyer 2009)")
    for model, result in diffusion.items():
        label, color = styles[model]
        scale = 1e9 / M2_PER_S
        _errorbar(axes[2], result["temperature_K"], result["D"] * scale, result["D_err"] * scale, color, label)
    axes[2].set_xlabel("temperature (K)")
    axes[2].set_ylabel("D ($10^{-9}$ m$^2$/s)")
    axes[2].set_title("(c)", loc="left")
    for ax in axes:
        _legend(ax, fontsize=7)
    fig.tight_layout()
    _footnote(fig, "Measured g(r) near 1960 K and the ADF (derived from scattering data, as a density in θ with unit "
                   "area) are digitized curves; the measured D carry no error bars except Meyer's 2000 K point.")
    return fig


def pressure_figure(lattice, styles):
    """Fig. 6: a (a) and c (b) vs pressure at 300 K, with the derived (not measured) experimental curve."""
    derived = load_lattice_vs_pressure()
    hcp = load_hcp_experiment().set_index("temperature_K")
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    lower_bounds = False
    for ax, letter, name in zip(axes, "ab", ("a", "c")):
        reference = derived[f"{name}_over_{name}0"] * hcp.loc[298.0, f"{name}_angstrom"]
        ax.plot(derived["P_GPa"], reference, label="derived from 293 K $C_{ij}$ (not measured)", **REFERENCE_STYLE)
        for model, result in lattice.items():
            label, color = styles[model]
            lower_bounds |= _errorbar(ax, result["target_pressure"] / GPA, result[name] / ANGSTROM,
                                      result[f"{name}_err"] / ANGSTROM, color, label, result.get(f"{name}_resolved"))
        ax.set_xlabel("pressure (GPa)")
        ax.set_ylabel(f"lattice constant {name} (Å)")
        ax.set_title(f"({letter})", loc="left")
    _legend(axes[1], fontsize=7, loc="best")  # one legend: two would cover the data in panel (a)
    fig.tight_layout()
    _footnote(fig, "The measured a(P), c(P) (Zhang et al. 2008) are not available as numbers: the dashed curve is "
                   "derived from 293 K elastic constants with an assumed K0' = 4, scaled to the 298 K lattice."
                   + ("\n" + LOWER_BOUND_NOTE if lower_bounds else ""))
    return fig


def _load(paths):
    return {model: read_npz(path) for model, path in paths.items()}


def _styles(paths, models_config):
    """{model: (label, colour)} of the models of ``paths`` ({model: a property file}, its provenance says whether
    the model is its initial model)."""
    return {name: model_style(name, models_config, i, (load_npz_metadata(path) or {}).get("model_metadata"))
            for i, (name, path) in enumerate(paths.items())}


def _save(fig, outputs, inputs):
    save_figure(fig, outputs, provenance({"inputs": inputs}, None))


def plot_elastic_lattice(hcp_paths, lattice_paths, models_config, outputs):
    """The ``fig3`` and ``fig7`` rules: ``{model: path}`` of hcp_elastic and lattice_temperature files."""
    styles = _styles({**hcp_paths, **{m: p for m, p in lattice_paths.items() if m not in hcp_paths}}, models_config)
    _save(elastic_lattice_figure(_load(hcp_paths), _load(lattice_paths), styles), outputs,
          {"hcp_elastic": hcp_paths, "lattice_temperature": lattice_paths})


def plot_phonons(phonon_paths, models_config, outputs, deviations_path):
    """The ``fig4`` rule: the figure and the per-branch deviations from the measured dispersion (CSV)."""
    from tifusion.io import write_csv

    phonons, styles = _load(phonon_paths), _styles(phonon_paths, models_config)
    _save(phonon_figure(phonons, styles), outputs, phonon_paths)
    write_csv(deviations_path, phonon_deviations(phonons, {name: style[0] for name, style in styles.items()}),
              provenance({"inputs": phonon_paths, "units": "THz"}, None))


def plot_liquid(structure_paths, diffusion_paths, models_config, outputs):
    """The ``fig5`` rule."""
    styles = _styles({**structure_paths, **{m: p for m, p in diffusion_paths.items() if m not in structure_paths}},
                     models_config)
    _save(liquid_figure(_load(structure_paths), _load(diffusion_paths), styles), outputs,
          {"liquid_structure": structure_paths, "self_diffusion": diffusion_paths})


def plot_pressure(lattice_paths, models_config, outputs):
    """The ``fig6`` rule."""
    _save(pressure_figure(_load(lattice_paths), _styles(lattice_paths, models_config)), outputs, lattice_paths)
