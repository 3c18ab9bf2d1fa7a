"""Where the wall time of a pipeline run goes: the critical path per job, per-rule totals and idle cores.

    python bench/critical_path.py                   # the latest run in the current directory
    python bench/critical_path.py --run /path/to/workdir [--log .snakemake/log/<file>.snakemake.log]
    python bench/critical_path.py --quick           # the same (a run is read, not made; --quick for uniformity)

Reads what a ``snakemake`` run leaves behind, nothing else:

- the Snakemake log (``.snakemake/log/*.snakemake.log``, the newest by default): the start and finish of every
  job (one-second resolution), its rule, wildcards, inputs and outputs, and the cores provided;
- ``benchmarks/``: each job's CPU seconds and peak memory;
- each job's ``log:`` file: the ``timings:`` line :mod:`tifusion.runtime` writes at exit (process start-up,
  JAX compilation, and the wall seconds of the package's phases: MD, frame observables such as Born terms,
  EXP gradients, DFT epochs, ...).

The critical path is walked back from the job that finished last: each job's predecessor is the input-producing
job that finished last (the one it waited for). Idle core-seconds are cores x wall minus the CPU seconds of all
jobs (a job may use more than its declared threads: XLA runs on every core it finds).
"""
import argparse
import csv
import json
import re
from datetime import datetime
from pathlib import Path

TIMINGS_PREFIX = "timings: "  # tifusion.runtime.TIMINGS_PREFIX (not imported: this script needs no JAX)
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
CORES = re.compile(r"^Provided cores: (\d+)")


def parse_snakemake_log(path):
    """({jobid: job dict}, cores) from a Snakemake log: rule, start, end, inputs, outputs, log, benchmark, wildcards."""
    jobs, cores, stamp, current = {}, None, None, None
    for line in Path(path).read_text().splitlines():
        if m := CORES.match(line):
            cores = int(m.group(1))
        elif m := STAMP.match(line):
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
            current = None
        elif m := RULE.match(line):
            current = {"rule": m.group(1), "start": stamp, "input": [], "output": [], "log": [], "wildcards": ""}
        elif current is not None and line.startswith("    ") and ": " in line:
            key, value = line.strip().split(": ", 1)
            if key in ("input", "output", "log"):
                current[key] = [v.strip() for v in value.split(",")]
            elif key in ("benchmark", "wildcards"):
                current[key] = value
            elif key == "jobid":
                jobs[int(value)] = current
        elif m := FINISHED.match(line):
            if int(m.group(1)) in jobs:
                jobs[int(m.group(1))]["end"] = stamp
            current = None
    return {k: v for k, v in jobs.items() if "end" in v}, cores


def read_benchmark(path):
    """{seconds, cpu_s, max_rss_mb} of a Snakemake benchmark TSV (the last repeat), or {}."""
    if not path or not Path(path).exists():
        return {}
    with open(path) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        return {}
    row = rows[-1]

    def number(key):
        try:
            return float(row[key])
        except (KeyError, ValueError):
            return float("nan")

    return {"seconds": number("s"), "cpu_s": number("cpu_time"), "max_rss_mb": number("max_rss")}


EXP_LINE = re.compile(r"\| MD (\d+) s, gradient (\d+) s")
LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ ")


def read_timings(paths, start):
    """The last ``timings:`` record in a job's log files; for logs without one (older versions), what their lines
    give: start-up until the first log line, and the EXP trainer's per-update MD and gradient seconds."""
    record, first, exp_md, exp_gradient = {}, None, 0.0, 0.0
    for path in paths:
        if not Path(path).exists():
            continue
        for line in Path(path).read_text(errors="replace").splitlines():
            if TIMINGS_PREFIX in line:
                record = json.loads(line.split(TIMINGS_PREFIX, 1)[1])
            if first is None and (m := LOG_STAMP.match(line)):
                first = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
            if m := EXP_LINE.search(line):
                exp_md, exp_gradient = exp_md + float(m.group(1)), exp_gradient + float(m.group(2))
    if record or first is None:
        return record
    phases = {"exp_md": {"s": exp_md, "compile_s": 0.0}, "exp_gradient": {"s": exp_gradient, "compile_s": 0.0}}
    return {"startup_s": max(0.0, (first - start).total_seconds()), "compile_s": 0.0,
            "phases": {k: v for k, v in phases.items() if v["s"]}}


def critical_path(jobs):
    """Job ids from the first to the last job of the chain that gated the run's end."""
    producer = {out: jid for jid, job in jobs.items() for out in job["output"]}
    jid = max(jobs, key=lambda j: (jobs[j]["end"], jobs[j]["start"]))
    chain = [jid]
    while True:
        inputs = [producer[i] for i in jobs[jid]["input"] if i in producer and producer[i] != jid]
        if not inputs:
            break
        jid = max(inputs, key=lambda j: jobs[j]["end"])
        chain.append(jid)
    return chain[::-1]


PHASE_GROUPS = {  # phase name (tifusion.runtime.phase) -> column
    "md": "MD", "exp_md": "MD", "frame_observables": "Born/frames", "exp_gradient": "EXP gradient",
    "exp_score": "EXP gradient", "exp_step_guard": "DFT", "dft_epoch": "DFT", "dft_validation": "DFT",
    "dft_fisher": "DFT",
}
COLUMNS = ("start-up", "compile", "MD", "Born/frames", "EXP gradient", "DFT", "other")


def breakdown(job):
    """Seconds of a job per column of :data:`COLUMNS` (compilation taken out of the phases it happened in)."""
    wall = (job["end"] - job["start"]).total_seconds()
    timings = job.get("timings") or {}
    parts = dict.fromkeys(COLUMNS, 0.0)
    if not timings:
        parts["other"] = wall
        return parts
    parts["start-up"] = timings.get("startup_s") or 0.0
    parts["compile"] = timings.get("compile_s", 0.0)
    for name, phase in timings.get("phases", {}).items():
        parts[PHASE_GROUPS.get(name, "other")] += phase["s"] - phase["compile_s"]
    parts["other"] = max(0.0, wall - sum(parts.values()) + parts["other"])
    return parts


def label(job):
    return job["rule"] + (f" [{job['wildcards']}]" if job["wildcards"] else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default=".", help="the run's working directory (default: .)")
    parser.add_argument("--log", help="a Snakemake log (default: the newest in <run>/.snakemake/log)")
    parser.add_argument("--quick", action="store_true", help="accepted for uniformity with the other benches")
    args = parser.parse_args()
    run = Path(args.run)
    log_path = Path(args.log) if args.log else max((run / ".snakemake" / "log").glob("*.snakemake.log"),
                                                   key=lambda p: p.stat().st_mtime)
    jobs, cores = parse_snakemake_log(log_path)
    if not jobs:
        raise SystemExit(f"{log_path}: no finished jobs")
    for job in jobs.values():
        job["bench"] = read_benchmark(run / job["benchmark"]) if job.get("benchmark") else {}
        job["timings"] = read_timings([run / p for p in job["log"]], job["start"])
    t0 = min(j["start"] for j in jobs.values())
    wall = (max(j["end"] for j in jobs.values()) - t0).total_seconds()
    cpu = sum(j["bench"].get("cpu_s", 0.0) for j in jobs.values())
    print(f"# Critical path of {log_path}\n")
    print(f"{len(jobs)} jobs, wall {wall / 60:.1f} min on {cores} cores; CPU of all jobs {cpu / 60:.1f} min; "
          f"idle {max(0.0, cores * wall - cpu) / 60:.1f} core-min ({100 * max(0.0, 1 - cpu / (cores * wall)):.0f} %)\n")

    print("## Critical path (seconds; compilation counted once, in its own column)\n")
    print("| job | starts at | wall | " + " | ".join(COLUMNS) + " | CPU | RSS GB |")
    print("|---|---:|---:|" + "---:|" * len(COLUMNS) + "---:|---:|")
    totals = dict.fromkeys(COLUMNS, 0.0)
    chain = critical_path(jobs)
    for jid in chain:
        job = jobs[jid]
        parts = breakdown(job)
        for k in COLUMNS:
            totals[k] += parts[k]
        print(f"| {label(job)} | {(job['start'] - t0).total_seconds():.0f} | "
              f"{(job['end'] - job['start']).total_seconds():.0f} | "
              + " | ".join(f"{parts[k]:.0f}" for k in COLUMNS)
              + f" | {job['bench'].get('cpu_s', float('nan')):.0f} | {job['bench'].get('max_rss_mb', float('nan')) / 1024:.1f} |")
    path_wall = sum((jobs[j]["end"] - jobs[j]["start"]).total_seconds() for j in chain)
    print(f"| **path total** | | {path_wall:.0f} | " + " | ".join(f"{totals[k]:.0f}" for k in COLUMNS) + " | | |")
    print(f"\nwaiting between path jobs (scheduling, cores busy elsewhere): {wall - path_wall:.0f} s\n")

    print("## Per rule (all jobs; seconds)\n")
    print("| rule | jobs | wall sum | CPU sum | " + " | ".join(COLUMNS) + " | max RSS GB |")
    print("|---|---:|---:|---:|" + "---:|" * len(COLUMNS) + "---:|")
    by_rule = {}
    for job in jobs.values():
        by_rule.setdefault(job["rule"], []).append(job)
    for rule, group in sorted(by_rule.items(), key=lambda kv: -sum((j["end"] - j["start"]).total_seconds()
                                                                      for j in kv[1])):
        parts = [breakdown(j) for j in group]
        print(f"| {rule} | {len(group)} | {sum((j['end'] - j['start']).total_seconds() for j in group):.0f} | "
              f"{sum(j['bench'].get('cpu_s', 0.0) for j in group):.0f} | "
              + " | ".join(f"{sum(p[k] for p in parts):.0f}" for k in COLUMNS)
              + f" | {max(j['bench'].get('max_rss_mb', 0.0) for j in group) / 1024:.1f} |")


if __name__ == "__main__":
    main()
