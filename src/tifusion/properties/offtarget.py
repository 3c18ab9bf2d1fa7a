"""Off-target properties against measured data: phonon dispersion, liquid g(r) peaks, self-diffusion.

- :func:`phonon_deviations`: per model and measured branch (Stassis et al. 1979, 295 K), the rms of
  (nearest model band - measured frequency) at the measured wave vectors on the model's band path;
  :func:`overall_phonon_rms` pools every point.
- :func:`rdf_peaks`: position and height of the first peak of g(r) and the position of the second, on the
  range both the model and the measured curve cover (Holland-Moritz et al. 2007, near 1960 K).
- :func:`diffusion_at`: a model's D at the measured temperatures (Horbach et al. 2009, 1952-2109 K), from the
  Arrhenius line through the model's own D(T) points (exact at the simulated temperatures).

Inputs are the property files of :mod:`tifusion.properties.phonons` and :mod:`tifusion.properties.liquid`
(internal units); outputs are in THz, Angstrom and m^2/s.
"""
import numpy as np
import pandas as pd

from tifusion.data.experiment import load_liquid_rdf, load_phonon_dispersion, load_self_diffusion_series
from tifusion.observables.dynamics import arrhenius_fit
from tifusion.properties.phonons import dispersion_deviations, measured_path_coordinates
from tifusion.units import ANGSTROM, M2_PER_S, kT

PHONON_DEVIATION_COLUMNS = ["model", "label", "direction", "branch", "n_points", "rms_THz"]


def measured_on_path(result, measured=None):
    """The measured dispersion with the path coordinate of each point on ``result``'s band path (NaN: off it)."""
    measured = load_phonon_dispersion() if measured is None else measured
    return measured.assign(path_coordinate=measured_path_coordinates(
        measured["direction"], measured["zeta"], result["labels"], result["label_distances"]))


def phonon_deviations(phonons, labels):
    """Per model and measured branch: points on the path and rms deviation (THz) from the nearest model band."""
    rows = []
    for model, result in phonons.items():
        for row in dispersion_deviations(result["distances"], result["frequencies"], measured_on_path(result)):
            rows.append({"model": model, "label": labels.get(model, model), **row})
    return pd.DataFrame(rows, columns=PHONON_DEVIATION_COLUMNS)


def overall_phonon_rms(deviations):
    """(rms over every measured point of the per-branch table's rows, number of points)."""
    rows = deviations[deviations["n_points"] > 0]
    n_points = int(rows["n_points"].sum())
    if n_points == 0:
        return np.nan, 0
    return float(np.sqrt(np.sum(rows["n_points"] * rows["rms_THz"] ** 2) / n_points)), n_points


def _peak(r, g, lower, upper):
    """(position, height) of the largest g on [lower, upper], refined by a parabola through the three points
    around the largest sample."""
    inside = np.flatnonzero((r >= lower) & (r <= upper))
    if inside.size < 3:
        raise ValueError(f"g(r) has fewer than 3 points on [{lower:.3g}, {upper:.3g}]")
    i = inside[np.argmax(g[inside])]
    if i in (inside[0], inside[-1]):
        return float(r[i]), float(g[i])
    (x0, x1, x2), (y0, y1, y2) = r[i - 1:i + 2], g[i - 1:i + 2]
    a, b, c = np.polyfit([x0, x1, x2], [y0, y1, y2], 2)
    if a >= 0:
        return float(x1), float(y1)
    x = -b / (2 * a)
    return float(x), float(np.polyval([a, b, c], x))


def rdf_peaks(r, g, r_max=None):
    """First peak (position, height) and second peak position of g(r), on r <= ``r_max``.

    The first peak is the largest g; the second is the largest g beyond the first minimum after it (the minimum
    searched up to 1.6 times the first peak's position, where a dense liquid's first shell ends)."""
    r, g = np.asarray(r, float), np.asarray(g, float)
    if r_max is not None:
        keep = r <= r_max
        r, g = r[keep], g[keep]
    first, height = _peak(r, g, r[0], r[-1])
    if r[-1] < 1.6 * first:
        raise ValueError(f"g(r) stops at {r[-1]:.3g}, before the end of the first shell ({1.6 * first:.3g})")
    shell = np.flatnonzero((r > first) & (r <= 1.6 * first))
    minimum = r[shell[np.argmin(g[shell])]]
    second, _ = _peak(r, g, minimum, r[-1])
    return {"first_peak_position": first, "first_peak_height": height, "second_peak_position": second}


def rdf_peak_comparison(result, measured=None):
    """{quantity: (model, measured)} of the g(r) peaks (positions in Angstrom) of a ``liquid_structure`` result,
    on the range both curves cover."""
    measured = load_liquid_rdf() if measured is None else measured
    r_model = np.asarray(result["r"]) / ANGSTROM
    r_max = min(r_model.max(), measured["r_angstrom"].max())
    model = rdf_peaks(r_model, result["g"], r_max)
    experiment = rdf_peaks(measured["r_angstrom"], measured["g_r"], r_max)
    return {name: (model[name], experiment[name]) for name in model}


def diffusion_at(result, temperatures_K):
    """D (m^2/s) of a ``self_diffusion`` result at ``temperatures_K``: the Arrhenius line through the model's D(T)
    (NaN everywhere with fewer than two positive D)."""
    temperature, diffusion = np.asarray(result["temperature_K"], float), np.asarray(result["D"], float) / M2_PER_S
    temperatures_K = np.asarray(temperatures_K, float)
    if temperature.size < 2 or np.any(diffusion <= 0):
        return np.full(temperatures_K.shape, np.nan)
    d0, activation = arrhenius_fit(temperature, diffusion)
    return d0 * np.exp(-activation / kT(temperatures_K))


def measured_diffusion():
    """(T in K, D in m^2/s) of the measured series."""
    series = load_self_diffusion_series()
    return series["T_K"].to_numpy(float), series["D_m2_per_s"].to_numpy(float)
