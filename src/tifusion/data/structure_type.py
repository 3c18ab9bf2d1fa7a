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
(legacy mode). A configuration's phase is the per-atom majority (ties resolved in the order
hcp, bcc, fcc, other). The method cannot tell a liquid from other disorder: liquids come out
as "other".
"""
import numpy as np

from tifusion.data.dataset import batched_graphs

STRUCTURES = ("hcp", "bcc", "fcc", "other")
HCP, BCC, FCC, OTHER = range(4)
_COS_EDGES = np.array([-0.945, -0.915, -0.755, -0.195, 0.195, 0.245, 0.795])
# Neighbour slots per atom: more than 23 neighbours within 1.245 r0 is no crystal.
CAPACITY = 24
# First search radius in units of (V/N)^(1/3); nearest neighbours of hcp/bcc/fcc sit at
# 1.09-1.12, so N1 needs ~1.4. Atoms whose neighbourhood is not complete are searched again.
_FIRST_CUTOFF = 1.8
_CUTOFF_GROWTH = 1.5
_MAX_SEARCHES = 4


def classify_neighbourhoods(d, mask):
    """Structure codes [M] (HCP, BCC, FCC, OTHER) from neighbour vectors sorted nearest first.

    ``d`` [M, K, 3] neighbour vectors of M atoms, ``mask`` [M, K] valid slots; the valid
    slots must hold every neighbour within 1.55 r0^2 (see :func:`complete`).
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


def complete(d, mask, cutoff):
    """Atoms [M] whose neighbour search radius ``cutoff`` covers 1.55 r0^2 (6 neighbours found)."""
    dist2 = np.where(mask, np.sum(d * d, axis=-1), np.inf)
    return np.isfinite(dist2[:, 5]) & (1.55 * np.mean(dist2[:, :6], axis=1) < cutoff**2)


def _neighbour_vectors(positions, box, graph):
    """d[b, i, a] = R[b, idx] - R[b, i] + box[b] @ shift, batched over configurations (numpy)."""
    batch = np.arange(positions.shape[0])[:, None, None]
    d = positions[batch, graph.idx] - positions[:, :, None, :] + np.einsum("bnkc,bdc->bnkd", graph.shift, box)
    return np.where(graph.mask[..., None], d, 0.0)


def atom_structures(positions, box, atom_mask):
    """Structure codes [n, N] of every atom of ``n`` configurations (OTHER on padding atoms).

    ``positions`` [n, N, 3] Cartesian, ``box`` [n, 3, 3] (columns = lattice vectors),
    ``atom_mask`` [n, N]; any length unit.
    """
    positions, box = np.asarray(positions, dtype=np.float64), np.asarray(box, dtype=np.float64)
    atom_mask = np.asarray(atom_mask, dtype=bool)
    density_length = (np.abs(np.linalg.det(box)) / atom_mask.sum(axis=1)) ** (1.0 / 3.0)
    codes = np.full(atom_mask.shape, OTHER, dtype=np.int64)
    todo, scale = np.arange(positions.shape[0]), _FIRST_CUTOFF
    for _ in range(_MAX_SEARCHES):
        cutoff = scale * density_length[todo]
        retry = []
        for local, graph in batched_graphs(positions[todo], box[todo], atom_mask[todo], cutoff, CAPACITY):
            configs = todo[local]
            real = atom_mask[configs]
            d = _neighbour_vectors(positions[configs], box[configs], graph)[real]
            mask = graph.mask[real]
            owner = np.nonzero(real)[0]  # row in the chunk of every real atom
            ok = complete(d, mask, np.repeat(cutoff[local], real.sum(axis=1)))
            done = np.bincount(owner, weights=~ok, minlength=len(configs)) == 0
            retry.extend(configs[~done].tolist())
            chunk_codes = np.full(real.shape, OTHER, dtype=np.int64)
            chunk_codes[real] = classify_neighbourhoods(d, mask)
            codes[configs[done]] = chunk_codes[done]
        todo, scale = np.array(sorted(retry), dtype=np.int64), scale * _CUTOFF_GROWTH
        if len(todo) == 0:
            break
    return codes


def majority_phase(codes, atom_mask):
    """Per-atom majority structure name of each configuration [n] (ties: hcp, bcc, fcc, other)."""
    counts = np.stack([np.sum((codes == s) & atom_mask, axis=1) for s in range(len(STRUCTURES))], axis=1)
    return np.array(STRUCTURES)[np.argmax(counts, axis=1)]


def classify_configurations(positions, box, atom_mask):
    """Phase name ("hcp", "bcc", "fcc" or "other") of each configuration [n], per-atom majority."""
    atom_mask = np.asarray(atom_mask, dtype=bool)
    return majority_phase(atom_structures(positions, box, atom_mask), atom_mask)
