"""Write a test overlay for the shipped SLURM profile, to be layered on it:

    python .ci/slurm_test_profile.py OUT_DIR [--shipped slurm/config.yaml] [--configfile C ...]
    snakemake --profile slurm --profile OUT_DIR ...

Snakemake merges repeated --profile arguments per top-level key, the later one winning. The overlay therefore
holds only what must change for a small test cluster: the run-time settings of the SLURM plugin (squeue as status
command, no long initial wait, successful job logs kept for .ci/slurm_check.py), `max-threads`, and the two
resource keys, whose every entry is copied from the shipped profile with only memory and runtime shrunk. Partition,
GPU request style (gres/gpu/gpu_model), constraint and account come through unchanged, so what a test run
exercises is the shipped rule-to-partition and GPU mapping.

Rules declare their own paper-scale `mem_mb`/`runtime`, which SLURM rejects when larger than the node, and the
overlay cannot see them; so every rule of the workflow (from `snakemake --list-rules`) gets an entry with mem_mb =
the cap (default: node memory / CPUs, so that as many jobs fit as CPUs) and runtime = the cap (default 30 min,
which also bounds a hung job), unless the shipped profile already asks for less. Threads are capped by
`max-threads` (default: the node's CPUs).
"""
import argparse
import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

PLUGIN_TEST_SETTINGS = {
    # sacct needs the accounting daemon, which the test cluster does not run; squeue sees finished jobs for
    # MinJobAge seconds (slurm.conf of .ci/slurm_cluster.sh).
    "slurm-status-command": "squeue",
    "slurm-init-seconds-before-status-checks": 2,
    # .ci/slurm_check.py reads the SLURM job logs of successful jobs too.
    "slurm-keep-successful-logs": True,
}
RESOURCE_KEYS = ("default-resources", "set-resources")


def node_resources():
    """(CPUs, memory in MB) of the test node: from sinfo when the cluster runs, else from this machine."""
    try:
        result = subprocess.run(["sinfo", "-h", "-o", "%c %m"], capture_output=True, text=True, timeout=30)
        rows = [tuple(int(value) for value in line.split()) for line in result.stdout.splitlines()]
        if result.returncode == 0 and rows:
            return min(cpus for cpus, _ in rows), min(mem for _, mem in rows)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    with open("/proc/meminfo") as meminfo:
        available_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemAvailable:"))
    return os.cpu_count(), int(available_kb / 1024 * 0.9)  # as .ci/slurm_cluster.sh configures the node


def capped(value, cap):
    """value if it is an integer not above cap, else cap (also for strings such as '2h')."""
    return min(value, cap) if isinstance(value, int) and not isinstance(value, bool) else cap


def shrink(resources, mem_mb, runtime, max_threads):
    """Copy of a resource mapping with mem_mb and runtime at most their caps (set when absent)."""
    shrunk = dict(resources, mem_mb=capped(resources.get("mem_mb"), mem_mb))
    shrunk["runtime"] = capped(resources.get("runtime"), runtime)
    if "mem_mb_per_cpu" in shrunk:  # the plugin prefers it over mem_mb
        shrunk["mem_mb_per_cpu"] = capped(shrunk["mem_mb_per_cpu"], mem_mb // max_threads)
    return shrunk


def workflow_rules(snakemake_args):
    """Names of all rules of the workflow in the current directory."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--list-rules", *snakemake_args],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"snakemake --list-rules failed:\n{result.stderr}")
    names = [line.strip() for line in result.stdout.splitlines()]
    return [name for name in names if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)]


def overlay(shipped, rules, mem_mb, runtime, max_threads):
    """The test overlay: plugin test settings, max-threads and the shrunk resource keys."""
    for key in RESOURCE_KEYS:
        if not isinstance(shipped.get(key, {}), dict):
            raise SystemExit(f"shipped profile: '{key}' must be a mapping, got {shipped[key]!r}")
    caps = dict(mem_mb=mem_mb, runtime=runtime, max_threads=max_threads)
    set_resources = copy.deepcopy(shipped.get("set-resources") or {})
    for rule in rules:
        set_resources.setdefault(rule, {})
    return {
        **PLUGIN_TEST_SETTINGS,
        "max-threads": max_threads,
        "default-resources": shrink(shipped.get("default-resources") or {}, **caps),
        "set-resources": {rule: shrink(entry, **caps) for rule, entry in set_resources.items()},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path, help="profile directory to write (config.yaml inside)")
    parser.add_argument("--shipped", type=Path, default=Path("slurm/config.yaml"), help="the shipped profile")
    parser.add_argument("--configfile", action="append", default=[], help="passed to snakemake --list-rules")
    parser.add_argument("--max-threads", type=int, help="thread cap per job; default: the CPUs of the node")
    parser.add_argument("--mem-mb", type=int, help="memory cap per job; default: node memory / CPUs")
    parser.add_argument("--runtime", type=int, default=30, help="runtime cap per job in minutes (default 30)")
    args = parser.parse_args(argv)

    if not args.shipped.is_file():
        raise SystemExit(f"shipped profile not found: {args.shipped}")
    with open(args.shipped) as stream:
        shipped = yaml.safe_load(stream)
    if not isinstance(shipped, dict) or shipped.get("executor") != "slurm":
        raise SystemExit(f"{args.shipped}: not a SLURM profile (expected 'executor: slurm')")
    node_cpus, node_mem_mb = node_resources()
    max_threads = args.max_threads or node_cpus
    mem_mb = args.mem_mb or node_mem_mb // node_cpus
    snakemake_args = [arg for path in args.configfile for arg in ("--configfile", path)]
    profile = overlay(shipped, workflow_rules(snakemake_args), mem_mb, args.runtime, max_threads)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    target = args.out_dir / "config.yaml"
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    with open(tmp, "w") as stream:
        stream.write(f"# Test overlay for {args.shipped}, written by .ci/slurm_test_profile.py; layer it:\n")
        stream.write(f"#   snakemake --profile {args.shipped.parent} --profile {args.out_dir} ...\n")
        yaml.safe_dump(profile, stream, sort_keys=False)
    os.replace(tmp, target)
    print(target)


if __name__ == "__main__":
    main()
