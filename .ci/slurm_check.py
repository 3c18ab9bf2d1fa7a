"""Check, from SLURM's side, that a Snakemake run went through the cluster as the profile says.

    python .ci/slurm_check.py SNAKEMAKE_LOG [--gpu-partition gpu] [--cpu-partition cpu]
                              [--fault-rule RULE --resume-pattern REGEX]

SNAKEMAKE_LOG is the output of the run (or its .snakemake/log/*.snakemake.log). From it come the jobs Snakemake
ran: rule, local or not, benchmark, log, resources (as Snakemake resolved them from the rule and the profiles)
and the SLURM job ids the plugin submitted. From SLURM (`scontrol show job`, which keeps finished jobs for
MinJobAge seconds; sacct for older ones where the site runs accounting) come each job's comment, partition,
state and GPU request. Checks:

- every job with a `benchmark:` (a compute rule, by the workflow conventions) ran as a SLURM job, and every
  non-local job has SLURM jobs whose comment names its rule, all with the run's job name;
- the last SLURM job of every job COMPLETED, and its kept log (.snakemake/slurm_logs/) exists;
- GPU jobs (resources gpu >= 1, as the rules declare, or a gres of gpu) ran in the GPU partition with a GPU request
  (TresPerJob/TresPerNode/TresPerTask naming gpu); other jobs ran in the CPU partition without one;
- with --fault-rule: that rule's first SLURM job was CANCELLED, a later one COMPLETED, and the rule's log (which
  the trainers rewrite per attempt) contains --resume-pattern followed by --progress-pattern (it resumed from
  its checkpoint with work left to do).

Exits 1 with every failed check listed, 0 otherwise; prints one line per job either way.
"""
import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

JOB_HEADER = re.compile(r"^(local)?rule (\w+):$")
JOB_FIELD = re.compile(r"^\s+(\w+): (.*)$")
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+)\)\.$")
RUN_ID = re.compile(r"SLURM run ID: (\S+)")
RESOURCE = re.compile(r"(\w+)=([^,]*)")
GPU_TRES = re.compile(r"gpu", re.IGNORECASE)


@dataclass
class SnakemakeJob:
    """One job of the run, as Snakemake logged it."""

    jobid: str
    rule: str
    local: bool
    fields: dict = field(default_factory=dict)
    submissions: list = field(default_factory=list)  # (slurm_jobid, slurm_log_path), one per attempt

    @property
    def resources(self):
        return dict(RESOURCE.findall(self.fields.get("resources", "")))

    @property
    def gpus(self):
        """GPUs requested: the `gpu` resource, or the count in a `gres` of gpu ('gpu:2', 'gpu:a100:1')."""
        resources = self.resources
        gpu = resources.get("gpu", "").strip()
        if gpu.isdigit() and int(gpu) > 0:
            return int(gpu)
        for gres in resources.get("gres", "").split(","):
            parts = gres.strip().split(":")
            if parts[0] == "gpu":
                return int(parts[-1]) if len(parts) > 1 and parts[-1].isdigit() else 1
        return 0

    @property
    def label(self):
        wildcards = self.fields.get("wildcards")
        return f"{self.rule}[{wildcards}]" if wildcards else self.rule


def parse_snakemake_log(path):
    """(run id, jobs by Snakemake jobid) from a run's output. A retried job appears once with several submissions."""
    jobs, run_id, header = {}, None, None
    for line in Path(path).read_text(errors="replace").splitlines():
        if match := RUN_ID.search(line):
            run_id = match.group(1)
        if match := JOB_HEADER.match(line):
            header = SnakemakeJob(jobid="", rule=match.group(2), local=bool(match.group(1)))
            continue
        if header is not None:
            if match := JOB_FIELD.match(line):
                header.fields[match.group(1)] = match.group(2).strip()
                continue
            jobid = header.fields.get("jobid")
            if jobid is not None:  # a dry-run or summary block without jobid is not a job
                job = jobs.setdefault(jobid, header)
                job.jobid = jobid
                job.fields.update(header.fields)
            header = None
        if match := SUBMITTED.search(line):
            jobid, slurm_id, slurm_log = match.groups()
            if jobid not in jobs:
                raise SystemExit(f"{path}: SLURM job {slurm_id} submitted for Snakemake job {jobid}, never announced")
            jobs[jobid].submissions.append((slurm_id, slurm_log))
    return run_id, jobs


def slurm_jobs(job_ids):
    """{jobid: {key: value}} for the given SLURM job ids, in `scontrol show job` keys.

    slurmctld keeps finished jobs for MinJobAge seconds (3600 on the CI cluster, 300 by default); older ones are
    looked up with sacct where the site runs accounting (Comment only if AccountingStoreFlags=job_comment).
    """
    result = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"scontrol show job failed: {result.stderr.strip()}")
    jobs = {}
    for line in result.stdout.splitlines():
        entry = dict(re.findall(r"(\w+)=(\S*)", line))
        if entry.get("JobId") in job_ids:
            jobs[entry["JobId"]] = entry
    missing = sorted(set(job_ids) - set(jobs))
    if missing and shutil.which("sacct"):
        result = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-j", ",".join(missing),
             "--format=JobID,JobName,Comment,Partition,State,ReqTRES"],
            capture_output=True, text=True,
        )
        for line in result.stdout.splitlines() if result.returncode == 0 else []:
            job_id, name, comment, partition, state, tres = line.split("|")
            jobs[job_id] = dict(JobId=job_id, JobName=name, Comment=comment, Partition=partition,
                                JobState=state.split()[0], TresPerJob=tres if "gpu" in tres else "")
    return jobs


def gpu_request(slurm_job):
    """The GPU request SLURM recorded for a job ('' when none)."""
    requests = [slurm_job.get(key, "") for key in ("TresPerJob", "TresPerNode", "TresPerTask")]
    return ",".join(r for r in requests if GPU_TRES.search(r))


def check_job(job, slurm, run_id, args):
    """Failed checks of one Snakemake job (empty list: all passed) and a one-line summary."""
    benchmark = "benchmark" in job.fields
    if job.local:
        problems = [f"{job.label}: compute rule (has a benchmark) ran locally, not as a SLURM job"] if benchmark else []
        return problems, f"{job.label:40s} local"
    if not job.submissions:
        return [f"{job.label}: not submitted to SLURM"], f"{job.label:40s} NOT SUBMITTED"
    problems, states = [], []
    for slurm_id, _ in job.submissions:
        entry = slurm.get(slurm_id)
        if entry is None:
            problems.append(f"{job.label}: SLURM job {slurm_id} unknown to slurmctld (older than MinJobAge?)")
            states.append(f"{slurm_id}:?")
            continue
        states.append(f"{slurm_id}:{entry.get('JobState')}")
        comment = entry.get("Comment", "")
        if comment and comment != f"rule_{job.rule}" and not comment.startswith(f"rule_{job.rule}_wildcards_"):
            problems.append(f"{job.label}: SLURM job {slurm_id} has comment {comment!r}, expected rule_{job.rule}")
        if run_id and entry.get("JobName") != run_id:
            problems.append(f"{job.label}: SLURM job {slurm_id} named {entry.get('JobName')!r}, not run {run_id}")
        partition, gpus = entry.get("Partition"), gpu_request(entry)
        if job.gpus >= 1:
            if partition != args.gpu_partition:
                problems.append(f"{job.label}: GPU job {slurm_id} in partition {partition}, not {args.gpu_partition}")
            if not gpus:
                problems.append(f"{job.label}: GPU job {slurm_id} has no GPU request in SLURM")
        else:
            if partition != args.cpu_partition:
                problems.append(f"{job.label}: CPU job {slurm_id} in partition {partition}, not {args.cpu_partition}")
            if gpus:
                problems.append(f"{job.label}: CPU job {slurm_id} requests GPUs ({gpus})")
    last_id, last_log = job.submissions[-1]
    if slurm.get(last_id, {}).get("JobState") != "COMPLETED":
        problems.append(f"{job.label}: last SLURM job {last_id} did not complete")
    if not Path(last_log).is_file():
        problems.append(f"{job.label}: kept SLURM log {last_log} missing (slurm-keep-successful-logs?)")
    last = slurm.get(last_id, {})
    summary = (f"{job.label:40s} partition={last.get('Partition', '?'):5s} gpu={gpu_request(last) or '-':14s} "
               f"jobs={' '.join(states)}")
    return problems, summary


def check_fault(jobs, slurm, args):
    """The fault test: the rule's first SLURM job was cancelled, a resubmission completed and resumed."""
    rule_jobs = [job for job in jobs.values() if job.rule == args.fault_rule and not job.local]
    if not rule_jobs:
        return [f"fault test: no SLURM job of rule {args.fault_rule} in the run"]
    problems = []
    for job in rule_jobs:
        states = [slurm.get(slurm_id, {}).get("JobState") for slurm_id, _ in job.submissions]
        if len(states) < 2 or states[0] != "CANCELLED" or states[-1] != "COMPLETED":
            problems.append(f"fault test: {job.label} SLURM states {states}, expected CANCELLED ... COMPLETED")
        rule_log = Path(job.fields.get("log", "").split(",")[0].strip())
        if not rule_log.is_file():
            problems.append(f"fault test: {job.label} has no rule log ({rule_log})")
            continue
        text = rule_log.read_text(errors="replace")
        resumed = re.search(args.resume_pattern, text)
        if not resumed:
            problems.append(f"fault test: rule log {rule_log} lacks /{args.resume_pattern}/: did not resume")
        elif not re.search(args.progress_pattern, text[resumed.end():]):
            problems.append(f"fault test: rule log {rule_log} shows no /{args.progress_pattern}/ after resuming: "
                            "the cancelled job had already finished, cancel earlier (longer tiny config?)")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("snakemake_log", type=Path, help="output of the Snakemake run")
    parser.add_argument("--gpu-partition", default="gpu")
    parser.add_argument("--cpu-partition", default="cpu")
    parser.add_argument("--fault-rule", help="rule whose first SLURM job was cancelled by the fault test")
    parser.add_argument("--resume-pattern", default=r"resuming from \S+ after epoch [1-9]\d*",
                        help="regex the fault rule's log must contain after the resubmission")
    parser.add_argument("--progress-pattern", default=r"epoch \d+/\d+",
                        help="regex of a progress line that must follow the resume line (work was left to do)")
    args = parser.parse_args(argv)

    if not args.snakemake_log.is_file():
        raise SystemExit(f"Snakemake log not found: {args.snakemake_log}")
    run_id, jobs = parse_snakemake_log(args.snakemake_log)
    if not jobs:
        raise SystemExit(f"{args.snakemake_log}: no jobs found (nothing to do, or not a Snakemake run log)")
    slurm = slurm_jobs({slurm_id for job in jobs.values() for slurm_id, _ in job.submissions})
    problems = []
    print(f"SLURM run {run_id}: {len(jobs)} Snakemake jobs")
    for job in sorted(jobs.values(), key=lambda job: int(job.jobid)):
        job_problems, summary = check_job(job, slurm, run_id, args)
        print(("FAIL " if job_problems else "ok   ") + summary)
        problems += job_problems
    if not any(not job.local for job in jobs.values()):
        problems.append("no job ran on SLURM")
    if args.fault_rule:
        problems += check_fault(jobs, slurm, args)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"slurm_check: {'FAILED, ' + str(len(problems)) + ' problems' if problems else 'all checks passed'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
