"""Compare the numbers of two result trees (a SLURM run and a local run of the same config and seeds).

Every .npz array (except provenance metadata) and every numeric CSV column present in the first tree must exist in
the second and agree within float tolerance. Exits non-zero, listing the differences.

    python .ci/compare_runs.py RESULTS_A RESULTS_B [--rtol 1e-5] [--atol 1e-8]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SKIP = {"metadata", "info", "key"}


def compare_arrays(name, a, b, rtol, atol):
    if a.shape != b.shape:
        return [f"{name}: shape {a.shape} vs {b.shape}"]
    if a.dtype.kind in "fc":
        if not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
            worst = np.nanmax(np.abs(a - b)) if a.size else 0.0
            return [f"{name}: differs (max abs difference {worst:.3g})"]
    elif a.dtype.kind in "iub" and not np.array_equal(a, b):
        return [f"{name}: integer values differ"]
    return []


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--rtol", type=float, default=1e-5)
    parser.add_argument("--atol", type=float, default=1e-8)
    args = parser.parse_args()
    problems, compared = [], 0
    for path in sorted(args.a.rglob("*")):
        rel = path.relative_to(args.a)
        if path.is_dir() or "checkpoints" in rel.parts or path.suffix not in (".npz", ".csv"):
            continue
        other = args.b / rel
        if not other.exists():
            problems.append(f"{rel}: missing in {args.b}")
            continue
        if path.suffix == ".npz":
            with np.load(path) as x, np.load(other) as y:
                for key in sorted(set(x.files) - SKIP):
                    if key not in y.files:
                        problems.append(f"{rel}[{key}]: missing")
                        continue
                    problems += compare_arrays(f"{rel}[{key}]", x[key], y[key], args.rtol, args.atol)
                    compared += 1
        else:
            x, y = pd.read_csv(path), pd.read_csv(other)
            for column in x.select_dtypes("number").columns:
                if column not in y or column == "seconds" or column.startswith("seconds"):
                    continue
                problems += compare_arrays(f"{rel}[{column}]", x[column].to_numpy(float),
                                           y[column].to_numpy(float), args.rtol, args.atol)
                compared += 1
    print(f"compared {compared} arrays/columns between {args.a} and {args.b}")
    for problem in problems:
        print("  DIFFERENT:", problem)
    return 1 if problems or compared == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
