"""The ``tifusion`` command: properties of a trained model file, as CSV/JSON and a plot.

    tifusion info     MODEL.npz
    tifusion elastic  MODEL.npz -T 23 323 --out elastic.csv      # + elastic.png
    tifusion lattice  MODEL.npz -T 323 --pressure 0 --out lattice.csv
    tifusion phonons  MODEL.npz --out phonons.json                # + phonons.png
    tifusion md       MODEL.npz --structure POSCAR -T 300 --time 1 --out md.traj

Units: K, ps, GPa, Angstrom, THz, eV. Long runs log their progress with an ETA (stderr).
"""
import argparse
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

from tifusion.units import ANGSTROM


def _plot_table(frame, columns, ylabel, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name in columns:
        err = frame.get(name.replace("_GPa", "_err_GPa").replace("_angstrom", "_err_angstrom"))
        ax.errorbar(frame["temperature_K"], frame[name], yerr=err, marker="o", capsize=2, label=name.split("_")[0])
    ax.set_xlabel("temperature (K)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def _with_suffix(path, suffix):
    return Path(path).with_suffix(suffix)


def info(args):
    import jax

    from tifusion import api

    model = api.load(args.model)
    n_params = sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(model.params))
    record = {"file": str(model.path), "potential": model.potential.name, "parameters": n_params,
              "cutoff_angstrom": float(model.potential.cutoff) / ANGSTROM, "metadata": model.metadata}
    print(json.dumps(record, indent=2, default=str))


def elastic(args):
    from tifusion import api

    frame = api.elastic_constants(args.model, args.temperatures, production_ps=args.production,
                                  equilibration_ps=args.equilibration, seed=args.seed)
    frame.to_csv(args.out, index=False)
    _plot_table(frame, ["C11_GPa", "C33_GPa", "C44_GPa", "C12_GPa", "C13_GPa"], "elastic constant (GPa)",
                _with_suffix(args.out, ".png"))
    print(frame.to_string(index=False, float_format="%.2f"))


def lattice(args):
    from tifusion import api

    frame = api.lattice_constants(args.model, args.temperatures, pressure_GPa=args.pressure,
                                  production_ps=args.production, equilibration_ps=args.equilibration, seed=args.seed)
    frame.to_csv(args.out, index=False)
    _plot_table(frame, ["a_angstrom", "c_angstrom"], "lattice constant (Angstrom)", _with_suffix(args.out, ".png"))
    print(frame.to_string(index=False, float_format="%.4f"))


def phonons(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tifusion import api

    result = api.phonon_dispersion(args.model, lattice=args.lattice, temperature_K=args.temperature,
                                   supercell=tuple(args.supercell))
    Path(args.out).write_text(json.dumps({key: np.asarray(value).tolist() for key, value in result.items()}))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(result["distances"], result["frequencies"], color="tab:blue")
    ax.set_xticks(result["label_distances"], [r"$\Gamma$" if x == "Gamma" else x for x in result["labels"]])
    ax.set_xlim(result["distances"][0], result["distances"][-1])
    ax.set_ylabel("frequency (THz)")
    fig.tight_layout()
    fig.savefig(_with_suffix(args.out, ".png"), dpi=150)
    plt.close(fig)
    print(f"a = {result['a']:.4f} A, c = {result['c']:.4f} A; highest frequency "
          f"{float(np.max(result['frequencies'])):.2f} THz; written {args.out}")


def md(args):
    from ase.io import read

    from tifusion import api

    try:
        atoms = read(args.structure)
    except Exception as err:  # ASE raises many types for an unreadable file
        raise SystemExit(f"tifusion md: cannot read structure {args.structure}: {err}") from None
    path = api.molecular_dynamics(args.model, atoms, args.temperature, args.time, args.out,
                                  interval_ps=args.interval, timestep_fs=args.timestep, seed=args.seed)
    print(f"written {path}")


def parser():
    top = argparse.ArgumentParser(prog="tifusion", description=__doc__.split("\n")[0],
                                  formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    def command(name, function, help_text):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("model", help="a model file (results/<run>/models/<model>/model.npz)")
        sub.set_defaults(run=function)
        return sub

    command("info", info, "what a model file holds")
    sub = command("elastic", elastic, "hcp elastic constants by NVT stress fluctuations (experimental cell of T)")
    sub.add_argument("-T", "--temperatures", type=float, nargs="+", required=True,
                     help="K (rows of the experimental table, 4-973 K)")
    sub.add_argument("--production", type=float, default=9.0, help="ps per temperature")
    sub.add_argument("--equilibration", type=float, default=1.35, help="ps")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--out", default="elastic.csv")
    sub = command("lattice", lattice, "hcp a and c by NPT")
    sub.add_argument("-T", "--temperatures", type=float, nargs="+", required=True,
                     help="K (rows of the experimental table, 4-973 K: the start cells)")
    sub.add_argument("--pressure", type=float, default=0.0, help="GPa")
    sub.add_argument("--production", type=float, default=3.0, help="ps")
    sub.add_argument("--equilibration", type=float, default=1.0, help="ps")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--out", default="lattice.csv")
    sub = command("phonons", phonons, "hcp phonon dispersion and DOS (phonopy)")
    sub.add_argument("--lattice", choices=["relaxed", "experimental"], default="relaxed")
    sub.add_argument("--temperature", type=float, default=298.0, help="K, for --lattice experimental")
    sub.add_argument("--supercell", type=int, nargs=3, default=[3, 3, 2])
    sub.add_argument("--out", default="phonons.json")
    sub = command("md", md, "Langevin NVT of a structure file to an ASE trajectory")
    sub.add_argument("--structure", required=True, help="any file ASE reads (POSCAR, extxyz, cif, ...)")
    sub.add_argument("-T", "--temperature", type=float, required=True, help="K")
    sub.add_argument("--time", type=float, required=True, help="ps")
    sub.add_argument("--interval", type=float, default=0.01, help="ps between frames")
    sub.add_argument("--timestep", type=float, default=2.0, help="fs")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--out", default="md.traj")
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    from tifusion.runtime import configure_jax

    configure_jax(cache_dir=os.environ.get("TIFUSION_JAX_CACHE", str(Path.home() / ".cache" / "tifusion" / "jax")))
    try:
        args.run(args)
    except (FileNotFoundError, KeyError, ValueError) as err:
        raise SystemExit(f"tifusion {args.command}: {err}") from None


if __name__ == "__main__":
    main()
