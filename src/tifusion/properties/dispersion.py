"""The phonon property rule: hcp dispersion along Gamma-M-K-Gamma-A and DOS of one model (Fig. 4).

The physics is :func:`tifusion.properties.phonons.hcp_phonons` (phonopy finite displacements);
this module turns a protocol into its arguments and the result into arrays. ``lattice``:
"experimental" (the table row at ``temperature_K``; 298 K is nearest to the 295 K of the
neutron data) or "relaxed" (the potential's own 0 K lattice).
"""
import numpy as np

from tifusion.properties.phonons import experimental_lattice, hcp_phonons
from tifusion.properties.simulation import run_property


def phonon_dispersion(potential, params, protocol, seed=None, checkpoint_dir=None):
    """Arrays of the dispersion (THz, path in 1/nm with 2 pi) and DOS (states/THz/cell); no MD, no seed."""
    del seed, checkpoint_dir  # deterministic and short
    if protocol["lattice"] == "experimental":
        lattice = experimental_lattice(protocol["temperature_K"])
    elif protocol["lattice"] == "relaxed":
        lattice = None
    else:
        raise ValueError(f"phonons.lattice must be 'experimental' or 'relaxed', got {protocol['lattice']!r}")
    result = hcp_phonons(potential, params, lattice, tuple(protocol["supercell"]), protocol["displacement_nm"],
                         points_per_segment=protocol["points_per_segment"], mesh=tuple(protocol["mesh"]))
    bands, dos = result.bands, result.dos
    return {"a": result.a, "c": result.c, "distances": bands.distances, "frequencies": bands.frequencies,
            "qpoints": bands.qpoints, "labels": np.array(bands.labels), "label_distances": bands.label_distances,
            "dos_frequencies": dos.frequencies, "dos": dos.dos}


def run_phonons(model_path, protocol, output_path, seed=None):
    """The ``phonons`` rule: ``results/properties/{model}/phonons.npz``."""
    return run_property(phonon_dispersion, model_path, protocol, output_path, seed)
