"""Speed and memory of the DimeNet++ potential on CPU: prints a table (Markdown).

    python bench/model_speed.py            # full run (a few minutes)
    python bench/model_speed.py --quick    # short run (about a minute)

For the paper-size model and a small "default" model (1 interaction block, embed 16, the
other embedding sizes halved, cutoff 0.5 nm), each in its own process (so that peak RSS is
per model):

- compile: seconds for the first energy+forces call (trace + XLA compile);
- E+F/s: energy + forces evaluations per second, 150-atom hcp cell (5x5x3, a = 0.295125,
  c = 0.467942 nm, the authors' 323 K box) with thermal displacements;
- E+F/s per replica, R in one call: the same cell as R thermalised replicas (--replicas, default 4),
  one jitted, vmapped energy+forces call per R;
- MD steps/s: jax-md ``nvt_langevin`` (dt 0.5 fs, gamma 4/ps, 323 K, Ti mass), graph
  rebuilt every step inside the jitted step, ``lax.fori_loop`` over 100-step chunks; per replica: the same MD
  vmapped over R replicas (what running the state points of a property as one MD would gain);
- train samples/s: ``value_and_grad`` (parameters) of an energy + force MSE loss on
  256-atom configurations (hcp 4x4x8, perturbed), gradients accumulated with ``lax.scan``
  over a batch;
- peak RSS of the process.

The graph capacity is the largest neighbour count of the thermalised configurations plus a
margin (--capacity-margin): dense-graph cost grows with capacity (triplets ~ capacity^2).
MD chunks are checked for overflow (the model returns NaN on an asymmetric, truncated
graph, and the end-of-chunk neighbour count is compared with the capacity).

Environment: the glibc malloc settings of tifusion.malloc are applied to the worker
processes unless --no-malloc-tuning. Measured on the 2-core CPU (single-thread CPU time
per MD step, paper model, capacity 32; machine shared, +-10 %):

- what helped: float32 throughout (a numpy float64 constant had promoted the whole model
  to float64 under x64), the Chebyshev form of the spherical basis (about half of the
  call before), the dense-row triplet aggregation with the block-diagonal SBF projection,
  and sizing the capacity to the data (triplet work grows as capacity^2);
- no measurable effect (46-50 ms per step either way): malloc settings, XLA_FLAGS
  --xla_cpu_prefer_vector_width=512, --xla_cpu_use_onednn=true,
  --xla_cpu_use_xnnpack=false, single- vs multi-threaded Eigen;
- slower: the addition-theorem variant of the triplet sum (per-atom sums of real
  spherical harmonics minus the back-edge term): 8.9 ms vs 5.4 ms for the 4 blocks'
  contractions incl. gradients, K = 32 (more, smaller operations).

Replicas (2-core CPU, --replicas 4, two full runs of the default model): energy+forces of 4 replicas in one
call run at 1.45x the single-cell rate per replica (1.35x per CPU second), but MD only at 1.16-1.20x (1.07-1.11x
per CPU second: where two jobs share the cores, about 10 %); the paper-size model (--quick) at 0.6-0.8x and 1.0x.

On a lightly loaded machine XLA uses both cores (CPU rate < wall rate); under heavy
load from other jobs the wall rates drop towards the CPU rates or below.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

from tifusion.malloc import MALLOC_SETTINGS

MODELS = {
    "paper": {"cutoff_nm": 0.5, "embed_size": 32, "out_embed_size": 64, "triplet_embed_size": 16,
              "basis_embed_size": 8, "num_blocks": 4, "num_radial": 6, "num_spherical": 7, "envelope_exponent": 6,
              "num_residual_before_skip": 1, "num_residual_after_skip": 2, "num_dense_output": 3,
              "dtype": "float32"},
    "default": {"cutoff_nm": 0.5, "embed_size": 16, "out_embed_size": 32, "triplet_embed_size": 8,
                "basis_embed_size": 4, "num_blocks": 1, "num_radial": 6, "num_spherical": 7, "envelope_exponent": 6,
                "num_residual_before_skip": 1, "num_residual_after_skip": 2, "num_dense_output": 3,
                "dtype": "float32"},
}

HCP_A, HCP_C = 0.295125, 0.467942  # nm, the authors' 323 K experimental box
TEMPERATURE = 323.0  # K
DT = 0.5e-3  # ps
GAMMA = 4.0  # 1/ps
CHUNK = 100  # MD steps per lax.fori_loop
THERMAL_RMS = 0.008  # nm, rms thermal displacement per component of Ti near 323 K


def timed_rate(fn, min_seconds, min_calls=3):
    """(calls per wall second, calls per CPU second of this process) of fn() (blocking).

    Best of two passes of at least min_seconds / 2 each. On a shared machine the CPU rate
    is the steadier measure of the work per call (it is lower than the wall rate only
    when XLA runs threads in parallel).
    """
    import jax

    best = (0.0, 0.0)
    for _ in range(2):
        calls, wall, cpu = 0, time.perf_counter(), time.process_time()
        while calls < min_calls or time.perf_counter() - wall < min_seconds / 2:
            jax.block_until_ready(fn())
            calls += 1
        rates = (calls / (time.perf_counter() - wall), calls / (time.process_time() - cpu))
        best = max(best, rates)
    return best


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def run_model(name, quick, capacity_margin, replicas):
    """Measure one model; returns a dict of results (runs in a worker process)."""
    import jax

    jax.config.update("jax_enable_x64", True)  # as tifusion.runtime; the model computes in its own dtype
    import jax.numpy as jnp
    import numpy as np
    from jax_md import simulate, space

    from tifusion import units
    from tifusion.graph import build_graph, count_max_neighbors, overflowed
    from tifusion.model.dimenet import make_dimenet, parameter_count
    from tifusion.potential import energy, energy_and_forces
    from tifusion.structures import hcp_supercell

    def log(message):
        print(f"[{name}] {message}", file=sys.stderr, flush=True)

    min_seconds = 2.0 if quick else 6.0
    md_chunks = 4 if quick else 10
    train_batch = 2 if quick else 4
    potential = make_dimenet(MODELS[name])
    params = potential.init(jax.random.PRNGKey(0))
    cutoff = potential.cutoff
    rng = np.random.default_rng(0)

    positions, box = hcp_supercell(HCP_A, HCP_C, (5, 5, 3))
    positions = jnp.asarray(positions + THERMAL_RMS * rng.standard_normal(positions.shape))
    box = jnp.asarray(box)
    capacity = count_max_neighbors(positions, box, cutoff) + capacity_margin
    build = jax.jit(lambda r: build_graph(r, box, cutoff, capacity))

    ef = jax.jit(lambda p, r, g: energy_and_forces(potential, p, r, box, g))
    graph = build(positions)
    start = time.perf_counter()
    jax.block_until_ready(ef(params, positions, graph))
    compile_seconds = time.perf_counter() - start
    ef_rate, ef_cpu_rate = timed_rate(lambda: ef(params, positions, graph), min_seconds)
    log(f"capacity {capacity}: compile {compile_seconds:.1f} s, {ef_rate:.1f} E+F/s ({ef_cpu_rate:.1f} per CPU s)")

    replica_positions = jnp.asarray(np.asarray(positions)[None] + THERMAL_RMS * rng.standard_normal(
        (replicas,) + positions.shape))
    replica_graphs = jax.vmap(lambda r: build_graph(r, box, cutoff, capacity))(replica_positions)
    if bool(jnp.any(overflowed(replica_graphs))):
        raise RuntimeError(f"{name}: replica graph overflow (capacity {capacity}); raise --capacity-margin")
    ef_replicas = jax.jit(jax.vmap(lambda p, r, g: energy_and_forces(potential, p, r, box, g), in_axes=(None, 0, 0)))
    jax.block_until_ready(ef_replicas(params, replica_positions, replica_graphs))
    replica_rate, replica_cpu_rate = (replicas * rate for rate in timed_rate(
        lambda: ef_replicas(params, replica_positions, replica_graphs), min_seconds))
    log(f"{replicas} replicas in one call: {replica_rate:.1f} E+F/s per replica ({replica_cpu_rate:.1f} per CPU s)")

    # Randomly initialised parameters do not hold the crystal together (it would disorder and
    # need ever more neighbour slots); a harmonic tether to the lattice sites with the 323 K
    # amplitude keeps the cell hcp, as a trained model does, at negligible cost.
    sites, box_inv = positions, jnp.linalg.inv(box)
    tether = units.kT(TEMPERATURE) / THERMAL_RMS**2

    def md_energy(r):
        graph = build_graph(jax.lax.stop_gradient(r), box, cutoff, capacity)
        frac = (r - sites) @ box_inv.T
        offset = (frac - jnp.round(frac)) @ box.T
        return energy(potential, params, r, box, graph) + 0.5 * tether * jnp.sum(offset**2)

    _, shift = space.periodic_general(box, fractional_coordinates=False)
    init_fn, step_fn = simulate.nvt_langevin(md_energy, shift, DT, units.kT(TEMPERATURE), gamma=GAMMA)
    def md_chunk_of(state):
        return jax.lax.fori_loop(0, CHUNK, lambda _, s: step_fn(s), state)

    def md_rates(run, state, what):
        """(steps/s, steps/s per CPU s, largest neighbour count) of ``run`` (CHUNK steps of a state or of replicas)
        continued from ``state``; the end of every chunk is checked for a graph overflow."""
        largest = 0

        def chunk():
            nonlocal state, largest
            state = run(state)
            graphs = jax.vmap(build)(state.position.reshape(-1, *state.position.shape[-2:]))
            largest = max(largest, int(jnp.max(graphs.max_neighbors)))
            if bool(jnp.any(overflowed(graphs))) or not bool(jnp.all(jnp.isfinite(state.position))):
                raise RuntimeError(f"{name}: {what} graph overflow (capacity {capacity}); raise --capacity-margin")
            return state.position

        rates = timed_rate(chunk, min_seconds, min_calls=md_chunks // 2)
        return CHUNK * rates[0], CHUNK * rates[1], largest

    run_chunk = jax.jit(md_chunk_of)
    state = init_fn(jax.random.PRNGKey(1), positions, mass=units.MASS_TI)
    start = time.perf_counter()
    state = jax.block_until_ready(run_chunk(state))
    md_compile_seconds = time.perf_counter() - start
    md_rate, md_cpu_rate, max_neighbors = md_rates(run_chunk, state, "MD")
    md_peak_rss = peak_rss_gb()
    log(f"MD: compile {md_compile_seconds:.1f} s, {md_rate:.1f} steps/s ({md_cpu_rate:.1f} per CPU s), "
        f"max neighbours {max_neighbors}, "
        f"peak RSS {md_peak_rss:.2f} GB")

    # The same MD for R replicas at once (vmapped state, shared parameters and capacity).
    replica_keys = jax.random.split(jax.random.PRNGKey(2), replicas)
    replica_states = jax.vmap(lambda k, r: init_fn(k, r, mass=units.MASS_TI))(replica_keys, replica_positions)
    run_replicas = jax.jit(jax.vmap(md_chunk_of))
    replica_states = jax.block_until_ready(run_replicas(replica_states))
    md_replica_rate, md_replica_cpu_rate, _ = md_rates(run_replicas, replica_states, "replica MD")
    md_replica_rate, md_replica_cpu_rate = replicas * md_replica_rate, replicas * md_replica_cpu_rate
    log(f"MD, {replicas} replicas: {md_replica_rate:.1f} steps/s per replica ({md_replica_cpu_rate:.1f} per CPU s)")

    # Training: 256-atom configurations, energy + force MSE, gradient accumulated over a batch.
    train_positions, train_box = hcp_supercell(HCP_A, HCP_C, (4, 4, 8))
    samples = jnp.asarray(train_positions + 0.01 * rng.standard_normal((train_batch,) + train_positions.shape))
    train_box = jnp.asarray(train_box)
    train_capacity = max(count_max_neighbors(r, train_box, cutoff) for r in np.asarray(samples))
    graphs = jax.vmap(lambda r: build_graph(r, train_box, cutoff, train_capacity))(samples)
    ref_energy = jnp.asarray(rng.standard_normal(train_batch))
    ref_forces = jnp.asarray(rng.standard_normal(samples.shape))

    def sample_loss(p, r, g, e_ref, f_ref):
        e, f = energy_and_forces(potential, p, r, train_box, g)
        return 1e-6 * (e - e_ref) ** 2 + 1e-2 * jnp.mean((f - f_ref) ** 2)

    def batch_value_and_grad(p):
        def accumulate(carry, sample):
            value, grad = jax.value_and_grad(sample_loss)(p, *sample)
            return jax.tree.map(jnp.add, carry, (value, grad)), None

        zero = (jnp.zeros(()), jax.tree.map(jnp.zeros_like, p))
        (value, grad), _ = jax.lax.scan(accumulate, zero, (samples, graphs, ref_energy, ref_forces))
        return value / train_batch, jax.tree.map(lambda x: x / train_batch, grad)

    train_step = jax.jit(batch_value_and_grad)
    start = time.perf_counter()
    jax.block_until_ready(train_step(params))
    train_compile_seconds = time.perf_counter() - start
    train_rate, train_cpu_rate = (train_batch * rate for rate in timed_rate(lambda: train_step(params), min_seconds,
                                                                              min_calls=1))

    return {
        "model": name,
        "parameters": parameter_count(params),
        "capacity": capacity,
        "md_max_neighbors": max_neighbors,
        "train_capacity": train_capacity,
        "compile_s": compile_seconds,
        "md_compile_s": md_compile_seconds,
        "train_compile_s": train_compile_seconds,
        "ef_per_s": ef_rate,
        "ef_per_cpu_s": ef_cpu_rate,
        "replicas": replicas,
        "replica_ef_per_s": replica_rate,
        "replica_ef_per_cpu_s": replica_cpu_rate,
        "md_steps_per_s": md_rate,
        "md_steps_per_cpu_s": md_cpu_rate,
        "replica_md_steps_per_s": md_replica_rate,
        "replica_md_steps_per_cpu_s": md_replica_cpu_rate,
        "train_samples_per_s": train_rate,
        "train_samples_per_cpu_s": train_cpu_rate,
        "md_peak_rss_gb": md_peak_rss,
        "peak_rss_gb": peak_rss_gb(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--capacity-margin", type=int, default=4, help="slots above the largest neighbour count")
    parser.add_argument("--replicas", type=int, default=4,
                        help="replicas of the cell in one batched E+F call and one batched MD")
    parser.add_argument("--no-malloc-tuning", action="store_true", help="keep glibc's default malloc settings")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_model(args.worker, args.quick, args.capacity_margin, args.replicas)))
        return

    env = dict(os.environ)
    if not args.no_malloc_tuning:
        env.update(MALLOC_SETTINGS)
    rows = []
    for name in args.models:
        command = [sys.executable, __file__, "--worker", name, "--capacity-margin", str(args.capacity_margin),
                   "--replicas", str(args.replicas)]
        if args.quick:
            command.append("--quick")
        out = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
        if out.returncode != 0:
            sys.exit(f"benchmark of model {name} failed (exit code {out.returncode})")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))

    print(f"CPU: {os.cpu_count()} cores; malloc tuning: {not args.no_malloc_tuning}; "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; load average before: {os.getloadavg()[0]:.1f}")
    print("Rates: per wall second (per CPU second of the process).")
    print("| model | params | capacity (MD max) | compile E+F s | E+F /s (150 at.) "
          f"| E+F /s per replica ({args.replicas} in one call) | MD compile s | MD steps/s "
          f"| MD steps/s per replica ({args.replicas} as one MD) | peak RSS after MD GB "
          "| train compile s | train samples/s (256 at.) | peak RSS GB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['parameters']} | {r['capacity']} ({r['md_max_neighbors']}) | {r['compile_s']:.1f} "
              f"| {r['ef_per_s']:.1f} ({r['ef_per_cpu_s']:.1f}) "
              f"| {r['replica_ef_per_s']:.1f} ({r['replica_ef_per_cpu_s']:.1f}) | {r['md_compile_s']:.1f} "
              f"| {r['md_steps_per_s']:.1f} ({r['md_steps_per_cpu_s']:.1f}) "
              f"| {r['replica_md_steps_per_s']:.1f} ({r['replica_md_steps_per_cpu_s']:.1f}) "
              f"| {r['md_peak_rss_gb']:.2f} "
              f"| {r['train_compile_s']:.1f} | {r['train_samples_per_s']:.2f} ({r['train_samples_per_cpu_s']:.2f}) "
              f"| {r['peak_rss_gb']:.2f} |")


if __name__ == "__main__":
    main()
