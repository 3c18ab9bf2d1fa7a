"""The conda environments of `snakemake --use-conda` (envs/): which rules use which, and how the package gets in.

Snakemake copies an environment file under .snakemake/conda/ before creating it, so a path relative to the file
cannot reach the repository; each environment's post-deploy script installs the package from TIFUSION_SOURCE,
which the Snakefile sets. Building an environment needs conda, which these tests do not assume: they check the
environments Snakemake would build and what the post-deploy script installs (a pip dry run).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def environments_of_the_jobs(tmp_path, *args):
    """The environment files Snakemake hashes for the jobs of ``snakemake all`` (``--containerize`` lists them
    before it needs conda; without conda it then fails, which does not matter here)."""
    # the SLURM executor plugin asks `scontrol` for a controller when it is imported: none is needed here
    (tmp_path / "scontrol").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "scontrol").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run([sys.executable, "-m", "snakemake", "--containerize", *args], cwd=ROOT, text=True,
                         capture_output=True, env=env, timeout=300)
    return set(re.findall(r"Hashing conda environment (\S+)\.\n", out.stdout + out.stderr))


@pytest.mark.slow
def test_cpu_runs_build_only_the_cpu_environment_and_cuda_runs_put_the_gpu_rules_on_cuda(tmp_path):
    assert environments_of_the_jobs(tmp_path) == {"envs/cpu.yaml"}
    assert environments_of_the_jobs(tmp_path, "--configfile", "config/paper.yaml") == {"envs/cpu.yaml",
                                                                                       "envs/cuda.yaml"}


def test_environment_files_name_no_relative_path_and_each_has_a_post_deploy_script():
    for env in sorted((ROOT / "envs").glob("*.yaml")):
        assert ".." not in env.read_text(), f"{env}: relative paths break in Snakemake's copy of the file"
        assert env.with_suffix(".post-deploy.sh").exists(), env


def test_post_deploy_installs_the_package_from_the_repository_from_any_directory(tmp_path):
    report = tmp_path / "report.json"
    subprocess.run(["bash", str(ROOT / "envs/cpu.post-deploy.sh"), "--dry-run", "--quiet", "--report", str(report)],
                   cwd=tmp_path, check=True, capture_output=True, env={**os.environ, "TIFUSION_SOURCE": str(ROOT)},
                   timeout=300)
    installs = {item["metadata"]["name"]: item["download_info"]["url"]
                for item in json.loads(report.read_text())["install"]}
    assert installs.get("tifusion") == ROOT.as_uri()


def test_post_deploy_without_the_repository_fails_naming_the_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TIFUSION_SOURCE"}
    out = subprocess.run(["bash", str(ROOT / "envs/cpu.post-deploy.sh"), "--dry-run"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "TIFUSION_SOURCE" in out.stderr
