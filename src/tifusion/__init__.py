"""tifusion: a DimeNet++ potential for titanium trained on DFT and experimental data.

Subpackages: ``data`` (datasets, experimental targets), ``reference`` (the EAM teacher),
``model`` (DimeNet++), ``md`` (simulation), ``observables``, ``training``, ``properties``,
``plotting``. Shared foundations: ``units``, ``graph``, ``potential``, ``io``.
"""
