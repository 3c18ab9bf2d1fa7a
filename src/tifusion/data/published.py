"""The authors' published DFT dataset: pinned download, verification, conversion.

Source: github.com/tummfm/Fused-EXP-DFT-MLP at commit :data:`COMMIT`, folder :data:`FOLDER`
(5704 Ti configurations of 256 atoms; docs/method.md §2). Six ``.npy`` arrays:

==========  ====================  =========================================================
file        shape                 content
==========  ====================  =========================================================
box.npy     (n, 9) or (n, 3, 3)   cell in Angstrom, ROWS = lattice vectors
coord.npy   (n, 768)/(n, 256, 3)  Cartesian positions, Angstrom
energy.npy  (n,)                  total energy per configuration, eV
force.npy   (n, 768)/(n, 256, 3)  forces, eV/Angstrom
types.npy   (n,)                  0 = Init (virial trained), 1 = Bulk
virial.npy  (n, 9) or (n, 3, 3)   virial per configuration, eV, W = P V (positive under
                                  compression), the canonical sign already
==========  ====================  =========================================================

Every file is verified by its git blob id (SHA-1 of ``b"blob <size>\\0" + content``, what
git records for the path at the pinned commit) and, where known offline, by size and SHA-256.
:func:`convert_published` turns the arrays into the canonical :class:`~tifusion.data.dataset.Dataset`:
units to nm and kJ/mol, boxes transposed to columns, the authors' contiguous split (0.7/0.1:
3992/570/1142, no shuffling) and a phase per configuration from the Ackland-Jones method.
"""
import hashlib
import http.client
import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from tifusion import units
from tifusion.data.dataset import Dataset, contiguous_split, validate
from tifusion.data.structure_type import classify_configurations
from tifusion.io import atomic_path

log = logging.getLogger(__name__)

REPOSITORY = "tummfm/Fused-EXP-DFT-MLP"
COMMIT = "0ee651b20fb133fcc1faa5b6e4af9c07f4cbafde"
FOLDER = "myjaxmd/examples/data/DFT_data/261022_AllInitAndBulk_256atoms_with_types_curatedData"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}/{FOLDER}"
N_ATOMS = 256


class PublishedFile(NamedTuple):
    """What a file must be: git blob id, and size in bytes and SHA-256 where known."""

    blob: str
    size: Optional[int] = None
    sha256: Optional[str] = None


PUBLISHED_FILES = {
    "box.npy": PublishedFile("7124fb58779674f970ce0d5da483ecf1f3db3bf8", 205472,
                             "e917ccd50e0ef0d50036fd0097ebaa4fbe7642e0a22646889733022ede8bc7a1"),
    "coord.npy": PublishedFile("54533aa303b91119209ea220188a1558c18dabd1"),
    "energy.npy": PublishedFile("71096046b8b6c6d55917462b5b2da99cb67cdec5", 45760,
                                "189ad5b4be8386b624c9bbfcaa7a1065882e657cacdcdb432bd1cd91bf535f09"),
    "force.npy": PublishedFile("e1b880e3e2799eed9f1ef8c2afc1ab23c2ce8b41"),
    "types.npy": PublishedFile("9aaabad2be658c0532e4e52cc1c115db9ab72d6e", 45760,
                               "5b2db404693adcd254b5e50382d3b5353b15c0d368da61ce3b1cdc6730bdd06d"),
    "virial.npy": PublishedFile("420d6f9bf15a2b8455083bf348cd0eaf627a3711", 205472,
                                "1e1ad084569fd4ea0a00878bc6c08ffdd35831986198bc27b2f07ba45b49ed1c"),
}

_CHUNK = 1 << 20


class PublishedDataError(RuntimeError):
    """A published file that is missing, cannot be fetched, or is not what the pin says."""


def git_blob_id(path):
    """SHA-1 of ``b"blob <size>\\0" + content``: the id git gives the file's content."""
    path = Path(path)
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path, expected, name=None):
    """Raise :class:`PublishedDataError` naming the file unless it matches ``expected``."""
    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise PublishedDataError(f"{name}: missing ({path})")
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        kind = "truncated" if size < expected.size else "too long"
        raise PublishedDataError(f"{name}: {kind}, {size} bytes, expected {expected.size}")
    blob = git_blob_id(path)
    if blob != expected.blob:
        raise PublishedDataError(f"{name}: git blob id {blob} ({size} bytes) does not match the pinned "
                                 f"{expected.blob} (corrupt or truncated download, or a different file)")
    if expected.sha256 is not None and _sha256(path) != expected.sha256:
        raise PublishedDataError(f"{name}: SHA-256 does not match the pinned {expected.sha256}")


def _is_verified(path, expected):
    try:
        verify_file(path, expected)
    except PublishedDataError:
        return False
    return True


def _fetch(url, target, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as fh:
        for block in iter(lambda: response.read(_CHUNK), b""):
            fh.write(block)


def _permanent(err):
    """Errors a retry cannot fix: HTTP 4xx (except timeout / rate limit), a missing local file."""
    if isinstance(err, urllib.error.HTTPError):
        return 400 <= err.code < 500 and err.code not in (408, 429)
    return isinstance(err, urllib.error.URLError) and isinstance(err.reason, FileNotFoundError)


def download_published(dest_dir, base_url=DEFAULT_BASE_URL, retries=3, timeout=120.0, backoff_s=2.0,
                       files=None):
    """Download and verify the published arrays into ``dest_dir``; return {name: path}.

    Each file is fetched from ``<base_url>/<name>`` (any urllib URL, e.g. ``file://``) to a
    temporary name, verified against ``files`` (default :data:`PUBLISHED_FILES`) and only then
    renamed into place, so no partial or unverified file is ever left under the final name.
    A verified file is also kept in ``dest_dir/.verified/`` (a hard link where possible): a failed job
    whose outputs Snakemake removes does not lose it, and the next attempt takes it from there.
    Files already present and verified are skipped; present but wrong ones are fetched again.
    Only transient failures (network errors, HTTP 5xx, 408, 429) are retried, ``retries`` times with
    exponential backoff (``backoff_s``, 2 backoff_s, ...); a completed transfer that does not verify
    (checksum or size) is an error at once. Every file is tried; one error then names each file that
    failed and why.
    """
    files = PUBLISHED_FILES if files is None else files
    dest_dir = Path(dest_dir)
    kept = dest_dir / VERIFIED_DIR
    kept.mkdir(parents=True, exist_ok=True)
    paths, failures = {}, []
    for name, expected in files.items():
        path = dest_dir / name
        if path.exists():
            if _is_verified(path, expected):
                log.info("%s: present and verified, skipped", name)
                _keep(path, kept / name)
                paths[name] = path
                continue
            log.warning("%s: present but does not verify; downloading again", name)
        if (kept / name).exists() and _is_verified(kept / name, expected):
            log.info("%s: verified earlier (%s), taken from there", name, kept)
            _keep(kept / name, path)
            paths[name] = path
            continue
        try:
            _download(f"{base_url.rstrip('/')}/{name}", path, name, expected, retries, timeout, backoff_s)
            _keep(path, kept / name)
            paths[name] = path
        except PublishedDataError as err:
            log.error("%s", err)
            failures.append(str(err))
    if failures:
        raise PublishedDataError("; ".join(failures))
    return paths


VERIFIED_DIR = ".verified"


def _keep(source, target):
    """``target`` becomes the same file as ``source`` (a hard link, or a copy across file systems), atomically."""
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


def _download(url, path, name, expected, retries, timeout, backoff_s):
    for attempt in range(retries + 1):
        try:
            with atomic_path(path) as tmp:
                _fetch(url, tmp, timeout)
                verify_file(tmp, expected, name)
            log.info("%s: downloaded and verified (blob %s)", name, expected.blob)
            return
        except PublishedDataError as err:  # the transfer completed: the content is wrong, a retry cannot help
            raise PublishedDataError(f"{name}: downloaded from {url} but {err}; not retried (a different or "
                                     "corrupt file at the source)") from err
        except (OSError, http.client.HTTPException) as err:
            if _permanent(err) or attempt == retries:
                raise PublishedDataError(f"{name}: download from {url} failed after {attempt + 1} "
                                         f"attempt(s): {err}") from err
            wait = backoff_s * 2**attempt
            log.warning("%s: attempt %d failed (%s); retrying in %.1f s", name, attempt + 1, err, wait)
            time.sleep(wait)


def _load(src_dir, name):
    path = Path(src_dir) / name
    if not path.is_file():
        raise PublishedDataError(f"{path}: missing (needed for the published dataset)")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise PublishedDataError(f"{path}: not a readable .npy array (a Git LFS pointer or an error page?): "
                                 f"{err}") from err
    if not isinstance(array, np.ndarray):
        raise PublishedDataError(f"{path}: expected one array, got {type(array).__name__}")
    return array


def _shaped(path, key, array, n, shapes):
    """``array`` reshaped to the first of ``shapes``, if it has one of them (n configurations)."""
    allowed = [(n,) + s for s in shapes]
    if array.shape not in allowed:
        raise PublishedDataError(f"{path}: key '{key}': shape {array.shape}, expected one of {allowed} "
                                 f"(n = {n} from energy.npy)")
    if not np.issubdtype(array.dtype, np.number):
        raise PublishedDataError(f"{path}: key '{key}': dtype {array.dtype} is not numeric")
    finite = np.isfinite(array.reshape(n, -1)).all(axis=1)
    if not finite.all():
        raise PublishedDataError(f"{path}: key '{key}': non-finite values in {np.sum(~finite)} configuration(s), "
                                 f"first at index {np.argmin(finite)}")
    return array.reshape((n,) + shapes[0]).astype(np.float64)


def convert_published(src_dir, train_fraction=0.7, validation_fraction=0.1):
    """The canonical :class:`Dataset` from the six published arrays in ``src_dir``.

    Checks presence, shapes, finiteness and type labels (errors name the file and the key),
    converts Angstrom -> nm, eV -> kJ/mol, transposes boxes to column vectors, and assigns the
    contiguous split and the Ackland-Jones phase. Writes nothing.
    """
    src_dir = Path(src_dir)
    arrays = {name: _load(src_dir, f"{name}.npy") for name in ("energy", "box", "coord", "force", "virial", "types")}
    energy = arrays["energy"]
    if energy.ndim != 1:
        raise PublishedDataError(f"{src_dir / 'energy.npy'}: key 'energy': shape {energy.shape}, expected (n,)")
    n = energy.shape[0]
    energy = _shaped(src_dir / "energy.npy", "energy", energy, n, [()])
    box_rows = _shaped(src_dir / "box.npy", "box", arrays["box"], n, [(3, 3), (9,)])
    coord = _shaped(src_dir / "coord.npy", "positions", arrays["coord"], n, [(N_ATOMS, 3), (3 * N_ATOMS,)])
    force = _shaped(src_dir / "force.npy", "forces", arrays["force"], n, [(N_ATOMS, 3), (3 * N_ATOMS,)])
    virial = _shaped(src_dir / "virial.npy", "virial", arrays["virial"], n, [(3, 3), (9,)])
    types = arrays["types"]
    if types.shape != (n,) or not np.issubdtype(types.dtype, np.integer) or not np.isin(types, (0, 1)).all():
        raise PublishedDataError(f"{src_dir / 'types.npy'}: key 'types': expected integer 0/1 of shape ({n},), "
                                 f"got {types.dtype} {types.shape} with values {np.unique(types)[:5]}")

    box = np.swapaxes(box_rows, 1, 2) * units.ANGSTROM
    positions = coord * units.ANGSTROM
    atom_mask = np.ones((n, N_ATOMS), dtype=bool)
    log.info("classifying the local structure of %d configurations (Ackland-Jones)", n)
    ds = Dataset(
        positions=positions,
        atom_mask=atom_mask,
        box=box,
        energy=energy * units.EV,
        forces=force * units.EV_PER_ANGSTROM,
        virial=virial * units.EV,
        types=types.astype(np.int64),
        phase=classify_configurations(positions, box, atom_mask),
        split=contiguous_split(n, train_fraction, validation_fraction),
    )
    return validate(ds, source=str(src_dir))
