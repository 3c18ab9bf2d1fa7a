"""Cost of the Born terms (stress and stiffness per frame) relative to one energy + forces evaluation.

    python bench/born_terms.py            # full run (several minutes)
    python bench/born_terms.py --quick    # short run (a minute or two)

150-atom hcp cell (5x5x3, the authors' 323 K box a = 0.295125, c = 0.467942 nm) with thermal
displacements, for the paper-size DimeNet++ (float32) and the Zhou 2004 EAM (float64).
Per frame, in milliseconds (fastest call after compilation, all quantities timed in turn):

- E+F: ``energy_and_forces`` on a prebuilt graph (the reference cost);
- graph build: :func:`tifusion.graph.build_graph` for one frame (explicit periodic images
  for the EAM's 0.75 nm cutoff in this cell, minimum image for DimeNet++'s 0.5 nm);
- E+F+W: energy, forces and virial in one pass (what every MD step computes);
- E only: the energy alone (forward pass), for scale;
- strain gradient: dU/d(eps) (what the Born stress needs; a reverse pass like E+F);
- Born, 1 direction: the linearized strain gradient applied to one symmetric direction (the
  primal and linearization plus one forward-mode tangent: the marginal cost of a direction is
  (Born - this) / 5);
- Born: :func:`tifusion.observables.elasticity.born_terms` on a prebuilt graph
  (gradient + 6 forward-mode strain directions, vmapped, stress terms added);
- Born, 5 hexagonal directions: :func:`hexagonal_strain_derivatives` (xx+yy, xx-yy, zz, yz, xz: every entry the
  hexagonal C11, C33, C44, C12, C13 read; equal to the full tensor's, tested);
- "..., frame capacity": the same on a graph with the slots the stored frames need
  (:func:`tifusion.md.state.frames_capacity`, what the EXP trainer and the elastic-constant runs
  use) instead of the MD run's capacity with its 20 % margin; E+F stays the MD-capacity cost;
- 9x9 nested: ``jacfwd(jacrev(U))`` of the 3x3 general strain (the straightforward way);
- batch B: :func:`born_terms_batch` over F frames, B at a time, graph built per frame inside
  (frame capacity), divided by F; "shared graph": one graph with a 0.1 nm skin for all frames
  (:func:`shared_graph`; more slots per atom, no per-frame neighbour search).

The script re-executes itself with the glibc malloc settings of tifusion.malloc (without
them the E+F call that follows the large batched calls in the round robin paid for page faults
and came out 2-3x slower than E+F+W). The ratio column is each cost over E+F. Wall times are
the fastest call; the CPU column is the fastest CPU time of this process per call (steadier on
a shared machine; above the wall time when XLA uses both cores). Prints a Markdown table and the machine load (1, 5, 15 min).
``--float64`` adds the paper-size model computing in float64.
"""
import argparse
import os
import sys
import time
from functools import partial

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from tifusion.graph import build_graph, image_range  # noqa: E402
from tifusion.malloc import MALLOC_SETTINGS  # noqa: E402
from tifusion.md.state import default_capacity, frames_capacity  # noqa: E402
from tifusion.model.dimenet import PAPER_HYPERPARAMETERS, make_dimenet  # noqa: E402
from tifusion.observables.elasticity import (born_terms, born_terms_batch, hexagonal_strain_derivatives,  # noqa: E402
                                             hexagonal_stress_and_born, shared_graph)
from tifusion.potential import energy, energy_and_forces, energy_forces_virial  # noqa: E402
from tifusion.reference.eam import zhou2004_ti  # noqa: E402
from tifusion.structures import hcp_supercell  # noqa: E402

HCP_A, HCP_C = 0.295125, 0.467942  # nm


@partial(jax.jit, static_argnums=0)
def hexagonal_born(potential, params, positions, box, graph):
    """The Born parts of C11, C33, C44, C12, C13 from the 11 hexagonal strain derivatives (what the EXP trainer's
    values need)."""
    _, x = hexagonal_strain_derivatives(lambda e: energy(potential, params, positions, box, graph, e), positions.dtype)
    return hexagonal_stress_and_born(x, jnp.abs(jnp.linalg.det(box)))[1]
THERMAL_RMS = 0.008  # nm per component, Ti near 323 K
SHARED_SKIN = 0.1  # nm, one graph for all frames (cutoff + skin)


def fastest_calls_ms(fns, min_seconds, min_rounds=3):
    """Fastest blocking call of each fn() in milliseconds: {name: (wall, CPU)}.

    The functions are called in turn (round robin) for at least ``min_rounds`` rounds and
    ``min_seconds``, so load from other processes affects all of them alike, and the minimum
    over calls is the estimate least inflated by load.
    """
    for fn in fns.values():
        jax.block_until_ready(fn())  # compile
    best = {name: (np.inf, np.inf) for name in fns}
    rounds, start = 0, time.perf_counter()
    while rounds < min_rounds or time.perf_counter() - start < min_seconds:
        for name, fn in fns.items():
            t, c = time.perf_counter(), time.process_time()
            jax.block_until_ready(fn())
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
        rounds += 1
    return {name: (1e3 * w, 1e3 * c) for name, (w, c) in best.items()}


def frames(n_frames, seed=0):
    positions, box = hcp_supercell(HCP_A, HCP_C, (5, 5, 3))
    rng = np.random.default_rng(seed)
    noisy = positions[None] + THERMAL_RMS * rng.standard_normal((n_frames,) + positions.shape)
    return jnp.asarray(noisy), jnp.asarray(box)


def measure(name, potential, params, n_frames, batch_sizes, min_seconds):
    positions, box = frames(n_frames)
    n_images = image_range(np.asarray(box), potential.cutoff)
    capacity = max(default_capacity(np.asarray(p), np.asarray(box), potential.cutoff) for p in positions[:4])
    build = jax.jit(build_graph, static_argnums=(2, 3, 4))
    graph = build(positions[0], box, potential.cutoff, capacity, n_images)
    tight_capacity = frames_capacity(positions, box, potential.cutoff)
    tight_graph = build(positions[0], box, potential.cutoff, tight_capacity, n_images)
    r0 = positions[0]

    ef = jax.jit(energy_and_forces, static_argnums=0)
    efw = jax.jit(energy_forces_virial, static_argnums=0)
    nested = jax.jit(lambda p, r, g: jax.jacfwd(jax.jacrev(
        lambda eps: energy(potential, p, r, box, g, eps)))(jnp.zeros((3, 3), r.dtype)))

    zero = jnp.zeros((3, 3), r0.dtype)
    strain_gradient = jax.jit(lambda p, r, g: jax.grad(lambda e: energy(potential, p, r, box, g, e))(zero))
    unit_xx = zero.at[0, 0].set(1.0)
    one_direction = jax.jit(lambda p, r, g: jax.jvp(jax.grad(lambda e: energy(potential, p, r, box, g, e)),
                                                    (zero,), (unit_xx,)))
    e_only = jax.jit(energy, static_argnums=0)

    fns = {"E+F": lambda: ef(potential, params, r0, box, graph),
           "E only": lambda: e_only(potential, params, r0, box, graph),
           "graph build": lambda: build(r0, box, potential.cutoff, capacity, n_images),
           "E+F+W": lambda: efw(potential, params, r0, box, graph),
           "strain gradient": lambda: strain_gradient(params, r0, graph),
           "Born, 1 direction": lambda: one_direction(params, r0, graph),
           "Born": lambda: born_terms(potential, params, r0, box, graph),
           "Born, 5 hexagonal directions": lambda: hexagonal_born(potential, params, r0, box, graph),
           "E+F, frame capacity": lambda: ef(potential, params, r0, box, tight_graph),
           "Born, 5 hexagonal directions, frame capacity": lambda: hexagonal_born(potential, params, r0, box,
                                                                                tight_graph),
           "9x9 nested": lambda: nested(params, r0, graph)}
    for b in batch_sizes:
        fns[f"batch {b} (per frame)"] = partial(born_terms_batch, potential, params, positions, box, tight_capacity,
                                                n_images, batch_size=b)
    shared = shared_graph(positions, box, potential.cutoff, SHARED_SKIN)
    b = batch_sizes[-1]
    fns[f"batch {b}, shared graph (per frame)"] = partial(born_terms_batch, potential, params, positions, box,
                                                         batch_size=b, graph=shared)
    rows = fastest_calls_ms(fns, min_seconds)
    for key in rows:
        if key.startswith("batch"):
            rows[key] = tuple(t / n_frames for t in rows[key])
    # Consistency: the 6-direction Born stiffness equals the nested Hessian / V.
    _, stiffness = born_terms(potential, params, r0, box, graph)
    full = nested(params, r0, graph) / jnp.abs(jnp.linalg.det(box))
    mismatch = float(jnp.abs(stiffness - full).max() / jnp.abs(full).max())
    # The frame-capacity graph gives the same Born terms.
    tight_born = hexagonal_born(potential, params, r0, box, tight_graph)
    md_born = hexagonal_born(potential, params, r0, box, graph)
    tight_mismatch = float(jnp.abs(tight_born - md_born).max() / jnp.abs(md_born).max())
    return name, (capacity, tight_capacity), rows, (mismatch, tight_mismatch)


def main():
    if any(os.environ.get(k) != v for k, v in MALLOC_SETTINGS.items()):
        # glibc malloc settings of tifusion.malloc (as bench/model_speed.py): without them the call
        # after a large one (the batched rows) pays for page faults, which inflated the E+F reference.
        os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, **MALLOC_SETTINGS})
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and shorter timing")
    parser.add_argument("--float64", action="store_true", help="also the paper-size model in float64")
    parser.add_argument("--seconds", type=float, help="minimum timing seconds per model (default 60; 10 if --quick)")
    parser.add_argument("--no-eam", dest="eam", action="store_false", help="skip the EAM")
    args = parser.parse_args()
    n_frames, batch_sizes, min_seconds = (8, (4,), 10.0) if args.quick else (32, (1, 8), 60.0)
    min_seconds = args.seconds or min_seconds

    dimenet = make_dimenet(dict(PAPER_HYPERPARAMETERS))
    results = [measure("DimeNet++ paper size (float32)", dimenet, dimenet.init(jax.random.PRNGKey(0)), n_frames,
                       batch_sizes, min_seconds)]
    if args.float64:
        dimenet64 = make_dimenet(dict(PAPER_HYPERPARAMETERS, dtype="float64"))
        results.append(measure("DimeNet++ paper size (float64)", dimenet64, dimenet64.init(jax.random.PRNGKey(0)),
                               n_frames, batch_sizes, min_seconds))
    if args.eam:
        results.append(measure("Zhou 2004 EAM (float64)", zhou2004_ti(), None, n_frames, batch_sizes, min_seconds))

    print(f"# Born-term cost, 150-atom hcp, {n_frames} frames; jax {jax.__version__}, "
          f"{os.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end\n")
    for name, (capacity, tight_capacity), rows, (mismatch, tight_mismatch) in results:
        print(f"## {name}: MD capacity {capacity}, frame capacity {tight_capacity}; "
              f"max |C_B(6 dir.) - C_B(9x9)| / max |C_B| = {mismatch:.1e}; "
              f"hexagonal Born parts, frame vs MD capacity: {tight_mismatch:.1e}\n")
        print("| quantity | ms per frame (wall) | / E+F | ms per frame (CPU) | / E+F |")
        print("|---|---:|---:|---:|---:|")
        for key, (wall, cpu) in rows.items():
            print(f"| {key} | {wall:.1f} | {wall / rows['E+F'][0]:.2f} | {cpu:.1f} | {cpu / rows['E+F'][1]:.2f} |")
        print()


if __name__ == "__main__":
    main()
