"""Protocol times in ps as whole numbers of MD steps and frames. No JAX import: the Snakefile checks every protocol
of the config with these functions when it is parsed, so a dry run fails on a length that the MD job would reject."""


def _whole_multiple(time_ps, unit_ps):
    """``time_ps`` / ``unit_ps`` if it is a whole number (to a relative 1e-6), else None."""
    n = int(round(float(time_ps) / float(unit_ps)))
    return n if abs(n * unit_ps - time_ps) <= 1e-6 * max(abs(time_ps), unit_ps) else None


def to_steps(time_ps, dt, name):
    """``time_ps`` as a whole number of steps of ``dt`` ps (0 allowed); ``name`` is the protocol key."""
    n = _whole_multiple(time_ps, dt)
    if n is None or n < 0:
        raise ValueError(f"protocol key {name} = {time_ps} ps must be a non-negative multiple of dt_ps = {dt} ps")
    return n


def frame_steps(protocol, length_key, interval_key="frame_interval_ps"):
    """(steps, frame interval in steps) of a recorded stage; the length must be a positive multiple."""
    dt = protocol["dt_ps"]
    n = to_steps(protocol[length_key], dt, length_key)
    interval = to_steps(protocol[interval_key], dt, interval_key)
    if interval < 1 or n < interval or n % interval:
        raise ValueError(f"protocol key {length_key} = {protocol[length_key]} ps must be a positive multiple of "
                         f"{interval_key} = {protocol[interval_key]} ps")
    return n, interval


def stage_steps(protocol, length_key, interval):
    """Steps of an unrecorded stage (0 allowed): a multiple of the frame interval of the property."""
    n = to_steps(protocol[length_key], protocol["dt_ps"], length_key)
    if n % interval:
        raise ValueError(f"protocol key {length_key} = {protocol[length_key]} ps must be a multiple of "
                         f"frame_interval_ps = {interval * protocol['dt_ps']} ps")
    return n


def trajectory_steps(md):
    """Steps of a DiffTRe trajectory (``exp_training.md``): equilibration, production (total_ps minus
    equilibration_ps, a positive multiple of frame_interval_ps), frame interval and the first trajectory's extra
    equilibration (initial_equilibration_ps)."""
    dt = md["dt_ps"]
    equilibration = to_steps(md["equilibration_ps"], dt, "equilibration_ps")
    production = to_steps(md["total_ps"], dt, "total_ps") - equilibration
    interval = to_steps(md["frame_interval_ps"], dt, "frame_interval_ps")
    if interval < 1 or production < interval or production % interval:
        raise ValueError(f"production time total_ps - equilibration_ps = {production * dt:g} ps must be a positive "
                         f"multiple of frame_interval_ps = {md['frame_interval_ps']} ps")
    return {"equilibration": equilibration, "production": production, "frame_interval": interval,
            "initial": to_steps(md.get("initial_equilibration_ps", 0.0), dt, "initial_equilibration_ps")}


def correlation_frames(max_lag, origin_spacing, n_origins, timestep):
    """(lag, origin spacing, frames needed), in frames ``timestep`` ps apart, of a time correlation averaged over
    ``n_origins`` origins ``origin_spacing`` ps apart, each followed by ``max_lag`` ps (the first origin at frame 0)."""
    lag = _whole_frames(max_lag, timestep, "max_lag")
    spacing = _whole_frames(origin_spacing, timestep, "origin_spacing")
    return lag, spacing, (n_origins - 1) * spacing + lag + 1


def _whole_frames(duration, timestep, name):
    """``duration`` (ps) as a positive whole number of frames of ``timestep`` ps."""
    n = _whole_multiple(duration, timestep)
    if n is None or n < 1:
        raise ValueError(f"{name} = {duration} ps must be a positive multiple of the frame spacing {timestep} ps")
    return n
