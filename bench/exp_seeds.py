"""Does the EXP stage move C11 and C44 toward experiment on any seed? The default's EXP models over several seeds.

    python bench/exp_seeds.py --run results/default    # 5 seeds, every EXP model of the config (~1.5-2 h, 2 cores)
    python bench/exp_seeds.py --run results/default --quick        # 2 seeds
    python bench/exp_seeds.py --run results/default --seeds 0 1 2 --models dft_exp_fused --jobs 2
    python bench/exp_seeds.py --run results/default --report       # the table of the seeds done so far

``DIR`` is the results folder of a pipeline run of the same config that holds the dataset and the pre-trained model
(``snakemake --cores all results/default/models/dft_pretrained/model.npz`` makes them in ``results/default``). For each seed s the bench trains
every EXP model of the config from that one pre-trained model with s as the EXP stage's seed (its MD, update
order and DFT batches; :func:`tifusion.training.fused.train_schedule`, the pipeline's trainer with its model
selection), then runs the config's ``hcp_elastic`` protocol with seed s on the selected model and on the
pre-trained model at the model's training temperatures (paired runs: same seed and start), and the DFT test-set
errors of both. Per seed and model it writes ``DIR/bench/exp_seeds/<config name>/seed<s>_<model>.json`` (read back
on a second call: the bench resumes where it stopped) and a log of the training beside it.

It prints, per model, constant (C11, C44) and training temperature: the move (model - pre-trained, GPa) mean and
standard deviation over seeds, and how many seeds move the constant toward experiment by more than the combined
error of the two runs (jackknife errors added in quadrature, conservative for paired runs); per model the force
RMSE ratio to the pre-trained model on the test set and how many seeds keep it within ``--force-factor`` (1.25);
and which seeds' selection kept the initial model.
"""
import argparse
import json
import multiprocessing
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONSTANTS = ("C11", "C44")


def load_config(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def exp_models(config):
    return [name for name, entry in config["models"].items() if "schedule" in entry]


def run_one(args):
    """Train one model with one seed, evaluate it and the pre-trained model; write and return the result."""
    run, config_path, model, seed, out = args
    import logging

    from tifusion.runtime import LOG_FORMAT, configure_jax

    logging.basicConfig(filename=out / f"seed{seed}_{model}.log", level=logging.INFO, format=LOG_FORMAT, force=True)
    configure_jax()
    from tifusion.data.dataset import load_dataset
    from tifusion.data.experiment import elastic_targets
    from tifusion.model.io import load_model
    from tifusion.properties import property_protocol
    from tifusion.properties.dft_errors import evaluate_dft_errors
    from tifusion.properties.elastic import hcp_elastic
    from tifusion.training.fused import train_schedule
    from tifusion.training.settings import model_dft_settings, model_exp_settings
    from tifusion.units import GPA

    config = load_config(config_path)
    entry = config["models"][model]
    dataset = load_dataset(run / "dataset/dataset.npz")
    potential, pretrained, _, _ = load_model(run / "models" / entry["init"] / "model.npz")
    exp_settings = model_exp_settings(config, entry)
    dft_settings = model_dft_settings(config, entry)
    checkpoint = out / f"seed{seed}_{model}.checkpoint.npz"
    selected, _, info = train_schedule(potential, pretrained, dataset, entry, exp_settings, dft_settings, seed,
                                       checkpoint, run_key=f"bench seed {seed}")
    protocol = dict(property_protocol(config["properties"], "hcp_elastic"), temperatures_K=entry["temperatures_K"])
    result = {"model": model, "seed": seed, "temperatures_K": entry["temperatures_K"],
              "selection": info["selection"], "history": info["history"], "constants": {}}

    def evaluate(params):
        elastic = hcp_elastic(potential, params, protocol, seed)
        return ({c: {"value": (np.asarray(elastic[c]) / GPA).tolist(),
                     "err": (np.asarray(elastic[f"{c}_err"]) / GPA).tolist()} for c in CONSTANTS},
                evaluate_dft_errors(potential, params, dataset)[0]["force_rmse"])

    # the pre-trained model's runs of a seed are shared by the models trained at the same temperatures
    shared = out / f"seed{seed}_pretrained_{'_'.join(f'{t:g}' for t in entry['temperatures_K'])}K.json"
    if not shared.exists():
        constants, force_rmse = evaluate(pretrained)
        shared.write_text(json.dumps({"constants": constants, "force_rmse": force_rmse}))
    reference = json.loads(shared.read_text())
    result["constants"]["pretrained"], result["force_rmse_pretrained"] = reference["constants"], reference["force_rmse"]
    result["constants"]["model"], result["force_rmse_model"] = evaluate(selected)
    result["experiment"] = {c: [elastic_targets(t)[c] / GPA for t in entry["temperatures_K"]] for c in CONSTANTS}
    (out / f"seed{seed}_{model}.json").write_text(json.dumps(result, indent=1))
    checkpoint.unlink(missing_ok=True)
    print(f"seed {seed}, {model}: done", file=sys.stderr, flush=True)
    return result


def report(results, models, force_factor, fused_like):
    print("| model | constant | T (K) | pre-trained | move (GPa), mean +- sd over seeds | experiment - pre-trained | "
          "seeds moving toward experiment beyond the errors |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for model in models:
        runs = [r for r in results if r["model"] == model]
        if not runs:
            continue
        for c in CONSTANTS:
            for k, temperature in enumerate(runs[0]["temperatures_K"]):
                pre = np.array([r["constants"]["pretrained"][c]["value"][k] for r in runs])
                pre_err = np.array([r["constants"]["pretrained"][c]["err"][k] for r in runs])
                new = np.array([r["constants"]["model"][c]["value"][k] for r in runs])
                new_err = np.array([r["constants"]["model"][c]["err"][k] for r in runs])
                wanted = runs[0]["experiment"][c][k] - pre.mean()
                move = new - pre
                passing = np.sum((np.sign(move) == np.sign(wanted)) & (np.abs(move) > np.hypot(pre_err, new_err)))
                print(f"| {model} | {c} | {temperature:g} | {pre.mean():.1f} | {move.mean():+.1f} +- "
                      f"{move.std(ddof=1) if len(move) > 1 else float('nan'):.1f} | {wanted:+.1f} | "
                      f"{passing}/{len(runs)} |")
    print("\n| model | force RMSE / pre-trained, per seed | within the factor | initial model kept |")
    print("|---|---|---:|---|")
    for model in models:
        runs = [r for r in results if r["model"] == model]
        if not runs:
            continue
        ratios = [r["force_rmse_model"] / r["force_rmse_pretrained"] for r in runs]
        within = sum(ratio <= force_factor for ratio in ratios)
        kept = [r["seed"] for r in runs if r["selection"].get("initial_model_kept")]
        print(f"| {model} | {', '.join(f'{x:.2f}' for x in ratios)} | "
              f"{within}/{len(runs)}{' (required)' if model in fused_like else ''} | {kept or 'none'} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True,
                        help="results folder of a run (results/<run name>) with its dataset and pre-trained model")
    parser.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0-4 (--quick: 0 1)")
    parser.add_argument("--models", nargs="+", default=None, help="default: every EXP model of the config")
    parser.add_argument("--jobs", type=int, default=1, help="trainings run in parallel processes")
    parser.add_argument("--force-factor", type=float, default=1.25)
    parser.add_argument("--quick", action="store_true", help="2 seeds")
    parser.add_argument("--report", action="store_true",
                        help="print the table of the seeds already done (another call may still be running)")
    args = parser.parse_args()
    config = load_config(args.config)
    models = args.models or exp_models(config)
    seeds = args.seeds if args.seeds is not None else ([0, 1] if args.quick else list(range(5)))
    out = args.run / "bench" / "exp_seeds" / args.config.stem
    out.mkdir(parents=True, exist_ok=True)
    # models that share temperatures (and hence the pre-trained model's runs) apart, so that parallel jobs do not
    # both compute them
    by_temperatures = {}
    for m in models:
        by_temperatures.setdefault(tuple(config["models"][m]["temperatures_K"]), []).append(m)
    order = [m for group in zip(*[g + [None] * (len(models) - len(g)) for g in by_temperatures.values()])
             for m in group if m is not None]
    todo = [(args.run, args.config, m, s, out) for s in seeds for m in order
            if not (out / f"seed{s}_{m}.json").exists()]
    if todo and not args.report:
        if args.jobs > 1:
            with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
                pool.map(run_one, todo, chunksize=1)
        else:
            for job in todo:
                run_one(job)
    results = [json.loads((out / f"seed{s}_{m}.json").read_text()) for s in seeds for m in models
               if (out / f"seed{s}_{m}.json").exists()]
    fused_like = [m for m in models if "dft" in config["models"][m]["schedule"]]
    done = {m: sorted(r["seed"] for r in results if r["model"] == m) for m in models}
    print(f"# EXP stage over seeds {seeds}: {args.config}, pre-trained model of {args.run}")
    print("# seeds done: " + "; ".join(f"{m} {done[m]}" for m in models) + "\n")
    report(results, models, args.force_factor, fused_like)


if __name__ == "__main__":
    main()
