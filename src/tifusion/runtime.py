"""Start-up shared by every Snakemake script: logging to the rule's log, JAX settings, a timing summary.

A script calls :func:`start` first, so that everything it prints and any uncaught
exception end up in the rule's ``log:`` file, then calls one package function. At exit the
process logs one ``timings:`` line (wall time, start-up, JAX compilation, and the wall time of
each :func:`phase` the package entered), which ``bench/critical_path.py`` reads.
"""
import atexit
import json
import logging
import os
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import jax

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# JAX's compilation events (tracing, lowering, XLA compile or persistent-cache read), jax/_src/dispatch.py.
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")
TIMINGS_PREFIX = "timings: "

log = logging.getLogger(__name__)


class Timings:
    """Wall seconds per named phase (exclusive of nested phases) and the JAX compilation time inside each."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.compile_seconds = defaultdict(float)
        self.active = []  # [name, time the phase last resumed]

    @contextmanager
    def phase(self, name):
        now = time.perf_counter()
        if self.active:
            parent = self.active[-1]
            self.seconds[parent[0]] += now - parent[1]
        self.active.append([name, now])
        try:
            yield
        finally:
            name, resumed = self.active.pop()
            now = time.perf_counter()
            self.seconds[name] += now - resumed
            if self.active:
                self.active[-1][1] = now

    def on_duration(self, event, duration, **_):
        if event in COMPILE_EVENTS:
            self.compile_seconds[self.active[-1][0] if self.active else "other"] += duration

    def record(self, wall, startup):
        return {"wall_s": round(wall, 2), "startup_s": None if startup is None else round(startup, 2),
                "compile_s": round(sum(self.compile_seconds.values()), 2),
                "phases": {name: {"s": round(s, 2), "compile_s": round(self.compile_seconds.get(name, 0.0), 2)}
                           for name, s in sorted(self.seconds.items())}}


class Progress:
    """Log lines "<what>: k/n <unit>, elapsed, ETA" at most every ``interval_s`` seconds; the ETA leaves out the
    first call's work, which includes the compilation."""

    def __init__(self, what, total, unit="steps", interval_s=30.0):
        self.what, self.total, self.unit, self.interval_s = what, total, unit, interval_s
        self.start = self.logged = time.perf_counter()
        self.first, self.first_done = None, 0

    def done(self, count):
        now = time.perf_counter()
        if self.first is None:
            self.first, self.first_done = now, count
            return
        if now - self.logged < self.interval_s or count >= self.total:
            return
        rate = (now - self.first) / (count - self.first_done)
        logging.getLogger("tifusion.progress").info("  %s: %d/%d %s, %.0f s, ETA %.0f s", self.what, count,
                                                    self.total, self.unit, now - self.start,
                                                    rate * (self.total - count))
        self.logged = now


TIMINGS = Timings()
phase = TIMINGS.phase


def process_age():
    """Seconds since this process started (Linux /proc), or None where that is not available."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def configure_jax(enable_x64=True, cache_dir=None):
    """float64 available (models still choose their own dtype) and a persistent compile cache.

    The cache directory comes from ``TIFUSION_JAX_CACHE`` (default ``.jax_cache`` in the working
    directory): every rule is a new process, and recompiling the same model costs seconds.
    """
    jax.config.update("jax_enable_x64", enable_x64)
    cache_dir = cache_dir or os.environ.get("TIFUSION_JAX_CACHE", ".jax_cache")
    if cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(Path(cache_dir).resolve()))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def start_job(job, name="tifusion"):
    """:func:`start` for a Snakemake script job (``snakemake``): its log, and JAX on the CPU unless its rule asks
    for a GPU (``resources: gpu``), so that a figure or dataset job never takes memory on a GPU that a training
    or MD job beside it uses (JAX preallocates most of a GPU's memory in every process that initialises it)."""
    return start(job.log[0], name, gpu=int(getattr(job.resources, "gpu", 0)) > 0)


def start(log_path=None, name="tifusion", gpu=True):
    """Route logging and uncaught exceptions to ``log_path`` (and stderr); configure JAX; log timings at exit.

    ``gpu=False``: JAX uses the CPU even where it finds a GPU.
    """
    if not gpu:
        jax.config.update("jax_platforms", "cpu")
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, handlers=handlers, force=True)
    logger = logging.getLogger(name)

    def log_uncaught(exc_type, exc, tb):
        logger.error("uncaught exception", exc_info=(exc_type, exc, tb))

    sys.excepthook = log_uncaught
    configure_jax()
    age = process_age()
    started = time.perf_counter() - (age or 0.0)
    jax.monitoring.register_event_duration_secs_listener(TIMINGS.on_duration)
    atexit.register(lambda: logger.info(TIMINGS_PREFIX + json.dumps(TIMINGS.record(time.perf_counter() - started,
                                                                                   age))))
    logger.info("jax %s on %s", jax.__version__, jax.default_backend())
    return logger
