"""Local crystal structure (hcp, bcc, fcc, other) by the Ackland-Jones bond-angle method.

G. J. Ackland and A. P. Jones, Phys. Rev. B 73, 054104 (2006). For every atom:

1. r0^2 = mean squared distance of its 6 nearest neighbours; the N0 neighbours within
   1.45 r0^2 (squared distance) and the N1 within 1.55 r0^2 are counted.
2. The cosines of all angles j-i-k between pairs of the N0 neighbours are histogrammed into
   chi_0..chi_7 with bin edges -0.945, -0.915, -0.755, -0.195, 0.195, 0.245, 0.795.
   Perfect crystals: bcc chi_0 = 7, fcc chi_0 = 6, hcp chi_0 = 3.
3. Deviations delta_bcc = 0.35 chi_4 / (chi_5 + chi_6 - chi_4), delta_cp = |1 - chi_6/24|,
   delta_fcc = 0.61 (|chi_0 + chi_1 - 6| + chi_2) / 6,
   delta_hcp = (|chi_0 - 3| + |chi_0 + chi_1 + chi_2 + chi_3 - 9|) / 12; chi_0 = 7, 6 or <= 3
   sets delta_bcc, delta_fcc or delta_hcp to zero.
4. Decision: chi_7 > 0 -> other; chi_4 < 3 -> other (icosahedral in the original, not a
   phase here); delta_bcc <= delta_cp -> bcc if N1 >= 11; else fcc or hcp (smaller delta)
   if 11 <= N1 <= 12; anything else -> other.

This is the decision tree as implemented in OVITO and in LAMMPS ``compute ackland/atom``
(legacy mode); a zero denominator in delta_bcc rules bcc out (as in LAMMPS' current code), and
an atom with all 24 nearest neighbours inside 1.45 r0^2 is "other". A configuration's phase is the per-atom majority (ties resolved in the order
hcp, bcc, fcc, other). The method cannot tell a liquid from other disorder: liquids come out
as "other".
"""
import numpy as np

from tifusion.graph import perpendicular_widths

STRUCTURES = ("hcp", "bcc", "fcc", "other")
HCP, BCC, FCC, OTHER = range(4)
_COS_EDGES = np.array([-0.945, -0.915, -0.755, -0.195, 0.195, 0.245, 0.795])
# Nearest neighbours kept per atom: more than 23 neighbours within 1.245 r0 is no crystal.
CAPACITY = 24
_CHUNK_PAIRS = 2**21  # atom pairs per vectorised chunk (memory bound)
_MAX_REPLICATED_ATOMS = 4096  # largest supercell built for a narrow cell


def classify_neighbourhoods(d, mask):
    """Structure codes [M] (HCP, BCC, FCC, OTHER) from neighbour vectors sorted nearest first.

    ``d`` [M, K, 3] neighbour vectors of M atoms, ``mask`` [M, K] valid slots; the valid
    slots must hold every neighbour within 1.55 r0^2 (or be full).
    """
    dist2 = np.where(mask, np.sum(d * d, axis=-1), np.inf)
    r0_sq = np.mean(dist2[:, :6], axis=1)
    in0 = dist2 < 1.45 * r0_sq[:, None]
    n0, n1 = in0.sum(axis=1), (dist2 < 1.55 * r0_sq[:, None]).sum(axis=1)

    k = d.shape[1]
    # Slots are sorted nearest first, so the N0 neighbours are a prefix: angles only there.
    k0 = max(int(n0.max(initial=0)), 2)
    unit = d[:, :k0] / np.sqrt(np.where(mask[:, :k0], dist2[:, :k0], 1.0))[..., None]
    cosines = np.einsum("mjc,mkc->mjk", unit, unit)
    pairs = in0[:, :k0, None] & in0[:, None, :k0] & np.triu(np.ones((k0, k0), dtype=bool), 1)
    bins = np.searchsorted(_COS_EDGES, cosines, side="right")
    chi = np.stack([np.sum(pairs & (bins == b), axis=(1, 2)) for b in range(8)], axis=1).astype(np.float64)

    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = chi[:, 5] + chi[:, 6] - chi[:, 4]
        delta_cp = np.abs(1.0 - chi[:, 6] / 24.0)
        delta_bcc = np.where(denominator != 0, 0.35 * chi[:, 4] / denominator, delta_cp + 1.0)
    delta_fcc = 0.61 * (np.abs(chi[:, 0] + chi[:, 1] - 6.0) + chi[:, 2]) / 6.0
    delta_hcp = (np.abs(chi[:, 0] - 3.0) + np.abs(chi[:, :4].sum(axis=1) - 9.0)) / 12.0
    delta_bcc = np.where(chi[:, 0] == 7, 0.0, delta_bcc)
    delta_fcc = np.where(chi[:, 0] == 6, 0.0, delta_fcc)
    delta_hcp = np.where(chi[:, 0] <= 3, 0.0, delta_hcp)

    close_packed = np.where(delta_fcc < delta_hcp, FCC, HCP)
    return np.select(
        [n0 >= k, chi[:, 7] > 0, chi[:, 4] < 3, delta_bcc <= delta_cp, (n1 > 12) | (n1 < 11)],
        [OTHER, OTHER, OTHER, np.where(n1 >= 11, BCC, OTHER), OTHER],
        default=close_packed,
    )


def _nearest(positions, box, atom_mask):
    """Minimum-image vectors to the ``CAPACITY`` nearest real atoms, nearest first.

    Batched over configurations: returns d [B, N, K, 3] and squared distances [B, N, K]
    (inf in empty slots). Distances below half the narrowest cell width are exact.
    """
    frac = np.einsum("bij,baj->bai", np.linalg.inv(box), positions)
    ds = frac[:, None, :, :] - frac[:, :, None, :]  # [B, N, N, 3]: s_j - s_i
    ds -= np.round(ds)
    n_atoms = positions.shape[1]
    d = ds @ np.swapaxes(box, 1, 2)[:, None]  # r = box @ s, row-wise: s @ box^T
    dist2 = np.einsum("...i,...i->...", d, d)
    excluded = np.eye(n_atoms, dtype=bool)[None] | ~atom_mask[:, None, :] | ~atom_mask[:, :, None]
    dist2 = np.where(excluded, np.inf, dist2)
    k = min(CAPACITY, n_atoms)
    nearest = np.argpartition(dist2, k - 1, axis=-1)[..., :k] if k < n_atoms else np.argsort(dist2, axis=-1)
    nearest = np.take_along_axis(nearest, np.argsort(np.take_along_axis(dist2, nearest, -1), axis=-1), -1)
    dist2 = np.take_along_axis(dist2, nearest, -1)
    d = np.take_along_axis(d, nearest[..., None], 2)
    if k < CAPACITY:  # fewer atoms than slots
        dist2 = np.pad(dist2, ((0, 0), (0, 0), (0, CAPACITY - k)), constant_values=np.inf)
        d = np.pad(d, ((0, 0), (0, 0), (0, CAPACITY - k), (0, 0)))
    return d, dist2


def _reach(dist2):
    """Per atom [..]: the distance that must be exact, max(6th neighbour, sqrt(1.55) r0)."""
    return np.sqrt(np.maximum(dist2[..., 5], 1.55 * np.mean(dist2[..., :6], axis=-1)))


def _codes_of_chunk(positions, box, atom_mask):
    d, dist2 = _nearest(positions, box, atom_mask)
    codes = np.full(atom_mask.shape, OTHER, dtype=np.int64)
    codes[atom_mask] = classify_neighbourhoods(d[atom_mask], np.isfinite(dist2[atom_mask]))
    half_width = np.array([perpendicular_widths(b).min() / 2 for b in box])
    exact = np.all(np.where(atom_mask, _reach(dist2), 0.0) < half_width[:, None], axis=1)
    return codes, exact


def _replicated(positions, box, repeat):
    """Supercell ``repeat`` (3 ints) of one configuration; the original atoms come first."""
    shifts = np.stack(np.meshgrid(*(np.arange(r) for r in repeat), indexing="ij"), -1).reshape(-1, 3)
    return (positions[None] + (shifts @ box.T)[:, None]).reshape(-1, 3), box * np.array(repeat)[None, :]


def atom_structures(positions, box, atom_mask):
    """Structure codes [n, N] of every atom of ``n`` configurations (OTHER on padding atoms).

    ``positions`` [n, N, 3] Cartesian, ``box`` [n, 3, 3] (columns = lattice vectors),
    ``atom_mask`` [n, N]; any length unit. Neighbours by minimum image, vectorised in chunks;
    cells too narrow for that (neighbours needed beyond half a cell width) are replicated
    until they are wide enough.
    """
    positions, box = np.asarray(positions, dtype=np.float64), np.asarray(box, dtype=np.float64)
    atom_mask = np.asarray(atom_mask, dtype=bool)
    n, n_atoms = atom_mask.shape
    codes = np.full((n, n_atoms), OTHER, dtype=np.int64)
    chunk = max(1, _CHUNK_PAIRS // (n_atoms * n_atoms))
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        codes[part], exact = _codes_of_chunk(positions[part], box[part], atom_mask[part])
        for i in start + np.flatnonzero(~exact):
            codes[i, atom_mask[i]] = _codes_replicated(positions[i, atom_mask[i]], box[i])
    return codes


def _codes_replicated(positions, box):
    """Codes of one narrow cell's atoms, from supercells doubled until minimum image is exact;
    atoms still inexact at ``_MAX_REPLICATED_ATOMS`` (isolated atoms) are OTHER."""
    repeat = 1
    while True:
        repeat *= 2
        big, big_box = _replicated(positions, box, (repeat,) * 3)
        d, dist2 = _nearest(big[None], big_box[None], np.ones((1, len(big)), bool))
        exact = _reach(dist2[0, :len(positions)]) < perpendicular_widths(big_box).min() / 2
        if exact.all() or 8 * len(big) > _MAX_REPLICATED_ATOMS:
            codes = classify_neighbourhoods(d[0, :len(positions)], np.isfinite(dist2[0, :len(positions)]))
            return np.where(exact, codes, OTHER)


def majority_phase(codes, atom_mask):
    """Per-atom majority structure name of each configuration [n] (ties: hcp, bcc, fcc, other)."""
    counts = np.stack([np.sum((codes == s) & atom_mask, axis=1) for s in range(len(STRUCTURES))], axis=1)
    return np.array(STRUCTURES)[np.argmax(counts, axis=1)]


def classify_configurations(positions, box, atom_mask):
    """Phase name ("hcp", "bcc", "fcc" or "other") of each configuration [n], per-atom majority."""
    atom_mask = np.asarray(atom_mask, dtype=bool)
    return majority_phase(atom_structures(positions, box, atom_mask), atom_mask)
