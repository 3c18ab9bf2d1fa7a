"""Training data: the canonical DFT-like dataset and the experimental targets.

- :mod:`~tifusion.data.dataset`: the canonical ``dataset.npz`` format, loading, validation, splits;
- :mod:`~tifusion.data.published`: the authors' published DFT arrays (pinned download, conversion);
- :mod:`~tifusion.data.embedded`: the offline set labelled with the reference EAM;
- :mod:`~tifusion.data.structure_type`: Ackland-Jones local structure (phase labels);
- :mod:`~tifusion.data.build`: ``build_dataset(config, out_path, download_dir)``, the entry point;
- :mod:`~tifusion.data.experiment`: experimental targets.
"""
