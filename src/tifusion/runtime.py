"""Start-up shared by every Snakemake script: logging to the rule's log, JAX settings.

A script calls :func:`start` first, so that everything it prints and any uncaught
exception end up in the rule's ``log:`` file, then calls one package function.
"""
import logging
import os
import sys
from pathlib import Path

import jax

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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


def start(log_path=None, name="tifusion"):
    """Route logging and uncaught exceptions to ``log_path`` (and stderr); configure JAX."""
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
    logger.info("jax %s on %s", jax.__version__, jax.default_backend())
    return logger
