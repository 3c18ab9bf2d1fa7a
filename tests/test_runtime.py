"""Progress lines of long loops: an ETA from the work after the first call (which includes the compilation)."""
import logging
import re

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
