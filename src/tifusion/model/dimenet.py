"""DimeNet++ potential on the dense periodic graph, with the layer structure of the paper's code.

Edges and messages. Edge j->i is slot a of row i of the graph (j = idx[i, a]); its vector
d[i, a] = r_j - r_i. Messages m_ji live on edges, so they are [N, K, E] arrays in this
"target-major" layout. The triplets of edge j->i are the edges k->j (row j, every slot b
except the back-edge k = i at the opposite shift); theta_kji is the angle at j between
r_i - r_j and r_k - r_j.

Triplet aggregation (the costly step of DimeNet++) without gathers or scatter-adds:

1. the spherical basis is separable, a_ln = rad_ln(d_kj) Y_l0(theta), and W_sbf2 W_sbf1 is
   linear, so the radial part is projected per edge k->j ([N, K, L, F]) and combined with
   the L angular values of each triplet afterwards (exact);
2. all triplets that feed edge j->i share the centre j: for every atom j, the edge j->i is
   one of j's own slots c (the reverse of slot a of row i). So row j alone gives
   out[j, c] = sum_(b != c) sum_l Y_l0(angle(d[j, c], d[j, b])) * G[j, b, l]
   (b == c is exactly the back-edge), one batched matmul [K, K L] @ [K L, F] per atom;
3. a permutation (slot c of row j -> slot a of row i) brings the result to target-major.

Step 3 needs a symmetric graph (every edge's reverse present), which
:func:`tifusion.graph.build_graph` guarantees unless it overflowed; an edge without
reverse makes the energy and the forces NaN instead of silently wrong.

The model has a single species (Ti): every atom uses row 1 of the 10-row type embedding,
as in the paper. Per-atom energies are summed over the output blocks, with no scaling; the
output biases give a learned constant per atom, and the optional hyperparameter
``atom_energy_offset`` a fixed one (0, i.e. none, in the paper configuration).

Edges farther than the cutoff (a graph built with a larger cutoff, or reused while atoms
move) contribute exactly zero: every radial basis function vanishes there.
"""
import functools
import json

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from tifusion.graph import Graph
from tifusion.model.basis import (bessel_frequencies_init, bessel_rbf, sbf_angular, sbf_radial,
                                  spherical_basis_radial)
from tifusion.potential import Potential

N_SPECIES = 10  # rows of the type-embedding table (paper's code)
TI_SPECIES = 1  # the row used for every atom

# Röcken & Zavadlav 2024 (docs/method.md §3): 121542 parameters.
PAPER_HYPERPARAMETERS = {
    "cutoff_nm": 0.5,
    "embed_size": 32,
    "out_embed_size": 64,
    "triplet_embed_size": 16,
    "basis_embed_size": 8,
    "num_blocks": 4,
    "num_radial": 6,
    "num_spherical": 7,
    "envelope_exponent": 6,
    "num_residual_before_skip": 1,
    "num_residual_after_skip": 2,
    "num_dense_output": 3,
    "dtype": "float32",
}
# Optional keys and their defaults. atom_energy_offset (kJ/mol per atom) is a fixed reference energy added
# to every atom: the paper's model has none (the output biases must learn the absolute energy, about
# -743 kJ/mol per atom, which takes its 53k optimizer steps); short trainings start from the mean energy.
OPTIONAL_HYPERPARAMETERS = {"atom_energy_offset": 0.0}
_INTEGER_KEYS = tuple(k for k in PAPER_HYPERPARAMETERS if k not in ("cutoff_nm", "dtype"))
_DTYPES = ("float32", "float64")


class OrthogonalVarianceScaling(hk.initializers.Initializer):
    """Random (semi-)orthogonal matrix rescaled to variance 1 / max(1, fan_in + fan_out)."""

    def __call__(self, shape, dtype):
        fan_in, fan_out = shape
        w = hk.initializers.Orthogonal()(shape, dtype)
        return w * jnp.sqrt(1.0 / (max(1.0, fan_in + fan_out) * jnp.var(w)))


def _dense(size, name, with_bias=True):
    return hk.Linear(size, with_bias=with_bias, w_init=OrthogonalVarianceScaling(), name=name)


class ResidualLayer(hk.Module):
    """x + swish(W2 swish(W1 x + b1) + b2)."""

    def __call__(self, x):
        size = x.shape[-1]
        y = jax.nn.swish(_dense(size, "dense_1")(x))
        return x + jax.nn.swish(_dense(size, "dense_2")(y))


class EmbeddingBlock(hk.Module):
    """Initial messages m_ji = swish(W [h_i | h_j | W_rbf e(d_ji)] + b)."""

    def __init__(self, embed_size, name=None):
        super().__init__(name=name)
        self.embed_size = embed_size

    def __call__(self, rbf):
        type_size = self.embed_size // 2
        table = hk.get_parameter("type_embedding", [N_SPECIES, type_size], rbf.dtype,
                                 init=hk.initializers.RandomUniform(-float(np.sqrt(3.0)), float(np.sqrt(3.0))))
        h = table[TI_SPECIES]
        h_pair = jnp.broadcast_to(jnp.concatenate([h, h]), rbf.shape[:-1] + (2 * type_size,))
        rbf_projection = _dense(self.embed_size, "rbf_projection", with_bias=False)(rbf)
        return jax.nn.swish(_dense(self.embed_size, "concat_dense")(jnp.concatenate([h_pair, rbf_projection], -1)))


class OutputBlock(hk.Module):
    """Per-atom energy W_final (swish Dense)^n W_up sum_(j->i) m_ji * W_rbf e(d_ji)."""

    def __init__(self, out_embed_size, num_dense, name=None):
        super().__init__(name=name)
        self.out_embed_size = out_embed_size
        self.num_dense = num_dense

    def __call__(self, messages, rbf):
        # The bias-free RBF projection vanishes on masked slots: they contribute exactly 0.
        x = messages * _dense(messages.shape[-1], "rbf_projection", with_bias=False)(rbf)
        x = jnp.sum(x, axis=1)  # incoming edges of each atom
        x = _dense(self.out_embed_size, "up_projection", with_bias=False)(x)
        for layer in range(self.num_dense):
            x = jax.nn.swish(_dense(self.out_embed_size, f"dense_{layer}")(x))
        return _dense(1, "atom_energy", with_bias=False)(x)[:, 0]


class InteractionBlock(hk.Module):
    """Directional message update of DimeNet++ (triplets k->j->i), residual layers, skip."""

    def __init__(self, triplet_embed_size, basis_embed_size, num_residual_before_skip, num_residual_after_skip,
                 name=None):
        super().__init__(name=name)
        self.triplet_embed_size = triplet_embed_size
        self.basis_embed_size = basis_embed_size
        self.num_residual_before_skip = num_residual_before_skip
        self.num_residual_after_skip = num_residual_after_skip

    def __call__(self, messages, rbf, sbf_rad, angular, idx, reverse):
        embed_size = messages.shape[-1]
        num_spherical, num_radial = sbf_rad.shape[-2:]
        w_init = OrthogonalVarianceScaling()
        # Messages m_kj, gated by the radial basis, projected down: row j, slot b = edge k->j.
        rbf_gate = _dense(self.basis_embed_size, "rbf_1", with_bias=False)(rbf)
        rbf_gate = _dense(embed_size, "rbf_2", with_bias=False)(rbf_gate)
        x = jax.nn.swish(_dense(embed_size, "dense_kj")(messages)) * rbf_gate
        x = jax.nn.swish(_dense(self.triplet_embed_size, "down_projection", with_bias=False)(x))
        w_sbf1 = hk.get_parameter("sbf_1", [num_spherical * num_radial, self.basis_embed_size], x.dtype, init=w_init)
        w_sbf2 = hk.get_parameter("sbf_2", [self.basis_embed_size, self.triplet_embed_size], x.dtype, init=w_init)
        x = aggregate_triplets(x, sbf_rad, angular, idx, reverse, w_sbf1, w_sbf2)
        x = jax.nn.swish(_dense(embed_size, "up_projection", with_bias=False)(x))

        x = x + jax.nn.swish(_dense(embed_size, "dense_ji")(messages))
        for _ in range(self.num_residual_before_skip):
            x = ResidualLayer(name="residual_before_skip")(x)
        x = jax.nn.swish(_dense(embed_size, "final_before_skip")(x)) + messages
        for _ in range(self.num_residual_after_skip):
            x = ResidualLayer(name="residual_after_skip")(x)
        return x


def aggregate_triplets(kj_features, sbf_rad, angular, idx, reverse, w_sbf1, w_sbf2):
    """For every edge j->i: sum over its triplets k->j->i of kj_features[k->j] * (W2 W1 a_kji).

    ``kj_features`` [N, K, F] (row j, slot b = edge k->j), ``sbf_rad`` [N, K, L, R] radial
    spherical basis of every edge, ``angular`` [N, K(c), K(b), L] Y_l0 of the angle between
    slots c and b of row j (zero for masked pairs and c == b), ``reverse``/``idx`` from
    :func:`reverse_slots`, ``w_sbf1`` [L R, B], ``w_sbf2`` [B, F]. Returns [N, K, F] in the
    target-major layout (row i, slot a = edge j->i). See the module docstring.
    """
    n_atoms, capacity, features = kj_features.shape
    num_spherical, num_radial = sbf_rad.shape[-2:]
    w_sbf = w_sbf1.reshape(num_spherical, num_radial, -1) @ w_sbf2  # [L, R, F]
    # Block-diagonal over l: one plain matmul instead of a batched one with transposes.
    w_block = jnp.einsum("lrf,lk->lrkf", w_sbf, jnp.eye(num_spherical, dtype=w_sbf.dtype))
    sbf_projection = (sbf_rad.reshape(n_atoms, capacity, num_spherical * num_radial)
                      @ w_block.reshape(num_spherical * num_radial, num_spherical * features))
    gated = sbf_projection.reshape(n_atoms, capacity, num_spherical, features) * kj_features[:, :, None, :]
    per_centre = (angular.reshape(n_atoms, capacity, capacity * num_spherical)  # [j, c]: edge j -> idx[j, c]
                  @ gated.reshape(n_atoms, capacity * num_spherical, features))
    return per_centre[idx, reverse]


def reverse_slots(graph):
    """For edge (i, a) with j = idx[i, a]: the slot c of row j holding the reverse edge.

    Returns (reverse [N, K] int, found [N, K] bool); the reverse edge points from j to i
    with the opposite cell shift.
    """
    n_atoms = graph.idx.shape[0]
    back_idx = graph.idx[graph.idx]  # [N, K, K]
    back_shift = graph.shift[graph.idx]  # [N, K, K, 3]
    match = ((back_idx == jnp.arange(n_atoms)[:, None, None])
             & jnp.all(back_shift == -graph.shift[:, :, None, :], axis=-1)
             & graph.mask[graph.idx])
    return jnp.argmax(match, axis=-1), jnp.any(match, axis=-1)


def edge_geometry(d, mask, cutoff):
    """Distances [N, K] (2 cutoff in masked slots, so every basis vanishes there) and unit vectors."""
    d2 = jnp.sum(d * d, axis=-1)
    distance = jnp.sqrt(jnp.where(mask, d2, (2.0 * cutoff) ** 2))  # safe: no sqrt(0) gradient
    unit = jnp.where(mask[..., None], d, 0.0) / distance[..., None]
    return distance, unit


def triplet_angular_basis(unit, mask, num_spherical):
    """Y_l0 of the angle between slots c and b of each row j: [N, K(c), K(b), L].

    Zero unless both slots are edges and c != b.
    """
    capacity = mask.shape[1]
    cos_theta = jnp.einsum("jcx,jbx->jcb", unit, unit)
    valid = mask[:, :, None] & mask[:, None, :] & ~jnp.eye(capacity, dtype=bool)
    return sbf_angular(num_spherical, cos_theta) * valid[..., None]


class DimeNetPP(hk.Module):
    """Per-atom energies [N] from the neighbour displacements d [N, K, 3] of a dense graph."""

    def __init__(self, hyperparameters, sbf_basis, name="dimenet_pp"):
        super().__init__(name=name)
        self.hp = hyperparameters
        self.sbf_basis = sbf_basis

    def __call__(self, d, graph):
        hp = self.hp
        cutoff, p = hp["cutoff_nm"], hp["envelope_exponent"]
        distance, unit = edge_geometry(d, graph.mask, cutoff)
        frequencies = hk.get_parameter("rbf_frequencies", [hp["num_radial"]], d.dtype,
                                       init=lambda shape, dtype: bessel_frequencies_init(shape[0], dtype))
        rbf = bessel_rbf(distance, frequencies, cutoff, p)
        sbf_rad = sbf_radial(distance, self.sbf_basis, cutoff, p)
        angular = triplet_angular_basis(unit, graph.mask, hp["num_spherical"])
        reverse, found = reverse_slots(graph)

        messages = EmbeddingBlock(hp["embed_size"])(rbf)
        energies = OutputBlock(hp["out_embed_size"], hp["num_dense_output"])(messages, rbf)
        for _ in range(hp["num_blocks"]):
            messages = InteractionBlock(hp["triplet_embed_size"], hp["basis_embed_size"],
                                        hp["num_residual_before_skip"], hp["num_residual_after_skip"])(
                messages, rbf, sbf_rad, angular, graph.idx, reverse)
            energies = energies + OutputBlock(hp["out_embed_size"], hp["num_dense_output"])(messages, rbf)
        # An edge without reverse (truncated, asymmetric graph) would be silently wrong: make
        # the energy NaN, and by the product rule also its derivatives (forces, virial).
        return energies * jnp.where(jnp.any(graph.mask & ~found, axis=1), jnp.nan, 1.0)


def check_hyperparameters(hyperparameters):
    """The validated hyperparameters (a new dict); errors name the offending key."""
    if not isinstance(hyperparameters, dict):
        raise TypeError(f"DimeNet++ hyperparameters must be a dict, got {type(hyperparameters).__name__}")
    missing = [k for k in PAPER_HYPERPARAMETERS if k not in hyperparameters]
    unknown = [k for k in hyperparameters if k not in PAPER_HYPERPARAMETERS and k not in OPTIONAL_HYPERPARAMETERS]
    if missing or unknown:
        raise KeyError(f"DimeNet++ hyperparameters: missing {missing}, unknown {unknown}")
    hp = {**OPTIONAL_HYPERPARAMETERS, **hyperparameters}
    hp["atom_energy_offset"] = float(hp["atom_energy_offset"])
    for key in _INTEGER_KEYS:
        value = hp[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"DimeNet++ hyperparameter {key} must be a non-negative integer, got {value!r}")
        hp[key] = int(value)
    for key in ("embed_size", "out_embed_size", "triplet_embed_size", "basis_embed_size", "num_radial",
                "envelope_exponent"):
        if hp[key] < 1:
            raise ValueError(f"DimeNet++ hyperparameter {key} must be >= 1, got {hp[key]}")
    if hp["num_spherical"] < 2:
        raise ValueError(f"DimeNet++ hyperparameter num_spherical must be >= 2, got {hp['num_spherical']}")
    if hp["embed_size"] % 2:
        raise ValueError(f"DimeNet++ hyperparameter embed_size must be even (type embedding = embed/2), "
                         f"got {hp['embed_size']}")
    cutoff = hp["cutoff_nm"]
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float, np.floating)) or not 0 < cutoff < 5:
        raise ValueError(f"DimeNet++ hyperparameter cutoff_nm must be a length in nm in (0, 5), got {cutoff!r}")
    hp["cutoff_nm"] = float(cutoff)
    if hp["dtype"] not in _DTYPES:
        raise ValueError(f"DimeNet++ hyperparameter dtype must be one of {_DTYPES}, got {hp['dtype']!r}")
    if hp["dtype"] == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("DimeNet++ hyperparameter dtype float64 needs jax_enable_x64")
    return hp


def make_dimenet(hyperparameters):
    """The DimeNet++ :class:`~tifusion.potential.Potential` for ``hyperparameters``.

    Keys: those of :data:`PAPER_HYPERPARAMETERS`. Computation runs in ``dtype`` whatever the
    dtype of the inputs and parameters (both are cast); per-atom energies come back in the
    wider of ``dtype`` and the input dtype, differentiable with respect to both inputs.
    Equal hyperparameters give the same Potential object, so jitted functions that take
    the potential as a static argument compile once per configuration, not once per load.
    """
    hp = check_hyperparameters(hyperparameters)
    return _make_dimenet(json.dumps(hp, sort_keys=True))


@functools.lru_cache(maxsize=None)
def _make_dimenet(hyperparameters_json):
    hp = json.loads(hyperparameters_json)
    dtype = jnp.dtype(hp["dtype"])
    sbf_basis = spherical_basis_radial(hp["num_spherical"], hp["num_radial"])
    model = hk.without_apply_rng(hk.transform(lambda d, graph: DimeNetPP(hp, sbf_basis)(d, graph)))

    def atom_energies(params, d, graph):
        params = jax.tree.map(lambda p: p.astype(dtype), params)
        out_dtype = jnp.promote_types(d.dtype, dtype)
        per_atom = model.apply(params, d.astype(dtype), graph).astype(out_dtype)
        return per_atom + hp["atom_energy_offset"]

    # Parameter shapes do not depend on the graph: two atoms 0.6 cutoff apart suffice.
    # Compiling the init takes 10-20 s on CPU (random kernels for every parameter); the
    # persistent compilation cache of tifusion.runtime makes it a one-off per configuration.
    example_d = np.zeros((2, 1, 3), dtype=dtype)
    example_d[0, 0, 0], example_d[1, 0, 0] = 0.6 * hp["cutoff_nm"], -0.6 * hp["cutoff_nm"]
    example_graph = Graph(idx=np.array([[1], [0]], dtype=np.int32), shift=np.zeros((2, 1, 3), dtype=dtype),
                          mask=np.ones((2, 1), dtype=bool), atom_mask=np.ones(2, dtype=bool),
                          max_neighbors=np.array(1, dtype=np.int32))
    init_model = jax.jit(model.init)

    def init(rng):
        return init_model(rng, example_d, example_graph)

    return Potential("dimenet_pp", hp["cutoff_nm"], atom_energies, init)


def parameter_count(params):
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
