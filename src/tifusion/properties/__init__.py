"""MD property protocols (docs/method.md §7). No JAX import here: the Snakefile reads this."""
from tifusion.md.steps import correlation_frames, frame_steps, stage_steps, to_steps

# The unrecorded stages a runner may put before production; each runs at the property's frame interval.
STAGE_KEYS = ("melt_ps", "npt_ps", "equilibration_ps")


def property_protocol(properties, name):
    """One property's protocol from the config's ``properties`` section: the shared MD settings, n_blocks and the
    property's own section (which wins). Its times are checked here (whole steps, whole frame intervals), so a
    Snakemake dry run fails where the MD job would; the error names the section and the key."""
    protocol = {**properties["md"], "n_blocks": properties["n_blocks"], **properties[name]}
    try:
        check_protocol_times(protocol)
    except ValueError as err:
        raise ValueError(f"config properties.{name}: {err}") from None
    return protocol


def check_protocol_times(protocol):
    """ValueError naming the key unless every stage is a whole number of MD steps and frame intervals."""
    if protocol.get("checkpoint_ps"):
        to_steps(protocol["checkpoint_ps"], protocol["dt_ps"], "checkpoint_ps")
    if "production_ps" not in protocol:  # no MD (phonons)
        return
    n_production, interval = frame_steps(protocol, "production_ps")
    for key in STAGE_KEYS:
        if key in protocol:
            stage_steps(protocol, key, interval)
    if "max_lag_ps" in protocol:  # time correlations over the production frames (self-diffusion)
        n_frames = n_production // interval
        _, _, needed = correlation_frames(protocol["max_lag_ps"], protocol["origin_spacing_ps"], protocol["n_origins"],
                                          interval * protocol["dt_ps"])
        if protocol["n_origins"] < protocol["n_blocks"]:
            raise ValueError(f"n_origins = {protocol['n_origins']} must be >= n_blocks = {protocol['n_blocks']} "
                             "(the error is a block average over origins)")
        if needed > n_frames:
            raise ValueError(f"n_origins = {protocol['n_origins']} origins origin_spacing_ps = "
                             f"{protocol['origin_spacing_ps']} ps apart with max_lag_ps = {protocol['max_lag_ps']} ps "
                             f"need {needed} frames; production_ps = {protocol['production_ps']} ps gives {n_frames}")


# MD and phonon properties computed per model by the workflow's `property` rule: name -> (module, runner). The
# liquid properties start from the model's melt (rule liquid_melt).
RUNNERS = {
    "hcp_elastic": ("tifusion.properties.elastic", "run_hcp_elastic"),
    "bcc_elastic": ("tifusion.properties.elastic", "run_bcc_elastic"),
    "lattice_temperature": ("tifusion.properties.lattice", "run_lattice_temperature"),
    "lattice_pressure": ("tifusion.properties.lattice", "run_lattice_pressure"),
    "phonons": ("tifusion.properties.dispersion", "run_phonons"),
    "liquid_structure": ("tifusion.properties.liquid", "run_liquid_structure"),
    "self_diffusion": ("tifusion.properties.liquid", "run_self_diffusion"),
}
FROM_MELT = ("liquid_structure", "self_diffusion")
# The config section of each property's protocol.
PROTOCOL_SECTIONS = {"liquid_structure": "liquid", "self_diffusion": "diffusion"}


def run(name, model_path, protocol, output_path, seed, checkpoint_dir=None, melt_path=None):
    """Compute property ``name`` of the model in ``model_path`` and write ``output_path`` (the `property` rule)."""
    import importlib

    module, runner = RUNNERS[name]
    run_property = getattr(importlib.import_module(module), runner)
    if name in FROM_MELT:
        return run_property(model_path, melt_path, protocol, output_path, seed, checkpoint_dir)
    if name == "phonons":
        return run_property(model_path, protocol, output_path)
    return run_property(model_path, protocol, output_path, seed, checkpoint_dir)
