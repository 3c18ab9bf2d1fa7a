"""Progress lines of long loops: an ETA from the work after the first call (which includes the compilation)."""
import logging
import os
import re
import subprocess
import sys

from tifusion.runtime import Progress


def test_progress_logs_an_eta_that_leaves_out_the_first_call(caplog, monkeypatch):
    clock = iter([0.0, 100.0, 110.0, 130.0, 140.0])  # start, first call (compiling: 100 s), then 10 s per 10 steps
    monkeypatch.setattr("tifusion.runtime.time.perf_counter", lambda: next(clock))
    progress = Progress("EXP 323 K trajectory", 50, interval_s=0.0)
    with caplog.at_level(logging.INFO, logger="tifusion.progress"):
        progress.done(10)  # the first call: no rate yet
        progress.done(20)
        progress.done(40)
        progress.done(50)  # finished: nothing more to estimate
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert re.search(r"EXP 323 K trajectory: 20/50 steps, 110 s, ETA 30 s", lines[0]), lines[0]
    assert re.search(r"40/50 steps, 130 s, ETA 10 s", lines[1]), lines[1]


def _platforms_after_start_job(tmp_path, gpus):
    """jax_platforms in a fresh process after start_job of a job whose rule asks for ``gpus`` GPUs."""
    job = f"types.SimpleNamespace(log=[{str(tmp_path / 'job.log')!r}], resources=types.SimpleNamespace(gpu={gpus}))"
    code = (f"import types, jax; from tifusion import runtime; runtime.start_job({job}); "
            "print(jax.config.jax_platforms, jax.default_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"})
    return out.stdout.split()


def test_a_job_without_a_gpu_request_keeps_jax_on_the_cpu(tmp_path):
    assert _platforms_after_start_job(tmp_path, 0) == ["cpu", "cpu"]
    platforms = _platforms_after_start_job(tmp_path, 1)
    assert platforms[0] != "cpu"  # left to JAX: the GPU where there is one
