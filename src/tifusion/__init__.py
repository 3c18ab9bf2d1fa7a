"""tifusion: a DimeNet++ potential for titanium trained on DFT and experimental data.

Use a trained model (eV, Angstrom, GPa, K, ps, THz at this edge; :mod:`tifusion.api`)::

    import tifusion
    model = tifusion.load("results/default/models/dft_exp_fused/model.npz")
    atoms.calc = model.calculator()
    tifusion.elastic_constants(model, [323])

Subpackages: ``data`` (datasets, experimental targets), ``reference`` (the EAM teacher),
``model`` (DimeNet++), ``md`` (simulation), ``observables``, ``training``, ``properties``,
``plotting``. Shared foundations: ``units``, ``graph``, ``potential``, ``io``.
"""
PUBLIC = ("Model", "load", "elastic_constants", "lattice_constants", "phonon_dispersion", "molecular_dynamics")
__all__ = list(PUBLIC)


def __getattr__(name):
    """The public API, imported on first use (``import tifusion`` stays light: the Snakefile imports the package)."""
    if name in PUBLIC:
        from tifusion import api

        return getattr(api, name)
    raise AttributeError(f"module 'tifusion' has no attribute {name!r}")
