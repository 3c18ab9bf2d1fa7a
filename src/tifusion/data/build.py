"""One entry point for the canonical dataset file, whatever its source.

``build_dataset(config, out_path, download_dir)`` reads these config keys (the ``dataset``
section of the workflow config plus the master ``seed``):

- ``source``: "published" (the authors' DFT arrays, :mod:`tifusion.data.published`) or
  "embedded" (generated offline with the reference EAM, :mod:`tifusion.data.embedded`);
- ``seed``: int, seeds the embedded generator (configurations, MD, shuffle); recorded for both;
- ``split.train``, ``split.validation``: fractions of the contiguous split (default 0.7, 0.1;
  test = the rest);
- ``published.base_url`` (default the raw GitHub URL pinned to the commit),
  ``published.retries`` (default 3), ``published.timeout_s`` (default 120): the download, used
  only for files not already present and verified in ``download_dir``;
- ``embedded``: counts and ranges of the generated configurations, see
  :data:`tifusion.data.settings.DEFAULTS` and the module docstring (all keys optional).

The file is written atomically with its provenance (config, seed, versions, git commit, and a
summary of the content); nothing is written when any step fails.
"""
import logging
from pathlib import Path

import numpy as np

from tifusion.data import embedded, published
from tifusion.data.dataset import PHASES, SPLITS, check_split_fractions, save_dataset
from tifusion.io import provenance

log = logging.getLogger(__name__)


def summary(ds):
    """Counts per split, type and phase, for the provenance record and the log."""
    return {
        "configurations": int(ds.n_configurations),
        "max_atoms": int(ds.atom_mask.shape[1]),
        "split": {name: int(np.sum(ds.split == k)) for k, name in enumerate(SPLITS)},
        "types": {str(t): int(np.sum(ds.types == t)) for t in (0, 1)},
        "phase": {p: int(np.sum(ds.phase == p)) for p in PHASES if np.any(ds.phase == p)},
    }


def build_dataset(config, out_path, download_dir=None):
    """Write the canonical dataset for ``config`` (see module doc) to ``out_path``; return it."""
    source = config.get("source")
    split = config.get("split", {})
    fractions = {"train_fraction": split.get("train", 0.7), "validation_fraction": split.get("validation", 0.1)}
    check_split_fractions(**fractions)
    seed = config.get("seed")
    if source == "published":
        if download_dir is None:
            raise ValueError("dataset.source = published needs a download directory")
        options = config.get("published", {})
        paths = published.download_published(
            download_dir,
            base_url=options.get("base_url", published.DEFAULT_BASE_URL),
            retries=options.get("retries", 3),
            timeout=options.get("timeout_s", 120.0),
        )
        ds = published.convert_published(download_dir, **fractions)
        origin = {"repository": published.REPOSITORY, "commit": published.COMMIT, "folder": published.FOLDER,
                  "files": {name: published.PUBLISHED_FILES[name].blob for name in paths}}
    elif source == "embedded":
        if seed is None:
            raise ValueError("dataset.source = embedded needs an integer 'seed'")
        ds = embedded.generate_embedded(config.get("embedded", {}), seed, **fractions)
        origin = {"teacher": embedded.TEACHER.name}
    else:
        raise ValueError(f"dataset config: key 'source': {source!r}, expected 'published' or 'embedded'")
    content = summary(ds)
    log.info("dataset (%s): %s", source, content)
    save_dataset(Path(out_path), ds, provenance(config, seed, source=source, origin=origin, content=content))
    return ds
