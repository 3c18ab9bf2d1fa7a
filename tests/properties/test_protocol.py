"""A property's protocol: shared MD settings under the property's own section, checked when it is read."""
from pathlib import Path

import pytest
import yaml

from tifusion.properties import property_protocol

CONFIG = Path(__file__).parents[2] / "config" / "config.yaml"


def properties_section():
    return yaml.safe_load(CONFIG.read_text())["properties"]


def test_property_section_wins_over_the_shared_md_settings():
    properties = properties_section()
    properties["hcp_elastic"]["dt_ps"] = 0.001
    protocol = property_protocol(properties, "hcp_elastic")
    assert protocol["dt_ps"] == 0.001 and protocol["n_blocks"] == properties["n_blocks"]
    assert protocol["friction_per_ps"] == properties["md"]["friction_per_ps"]


def test_every_default_protocol_is_whole_steps_and_frames():
    properties = properties_section()
    for name in set(properties) - {"md", "n_blocks"}:
        property_protocol(properties, name)


@pytest.mark.parametrize("section, key, value", [("hcp_elastic", "production_ps", 0.4),
                                                 ("hcp_elastic", "equilibration_ps", 1.0),
                                                 ("liquid", "melt_ps", 1.01),
                                                 ("diffusion", "npt_ps", 0.405)])
def test_a_stage_that_is_no_whole_number_of_frames_is_refused_naming_section_and_key(section, key, value):
    properties = properties_section()
    properties[section][key] = value
    with pytest.raises(ValueError, match=rf"config properties\.{section}: protocol key {key} = {value} ps"):
        property_protocol(properties, section)


def test_diffusion_origins_that_do_not_fit_the_production_are_refused():
    properties = properties_section()
    diffusion = properties["diffusion"]
    frames = round(diffusion["production_ps"] / diffusion["frame_interval_ps"])
    needed = round(((diffusion["n_origins"] - 1) * diffusion["origin_spacing_ps"] + diffusion["max_lag_ps"])
                   / diffusion["frame_interval_ps"]) + 1
    assert needed <= frames  # the default fits
    diffusion["production_ps"] = (needed - 1) * diffusion["frame_interval_ps"]
    message = rf"config properties\.diffusion: .* need {needed} frames; .* gives {needed - 1}"
    with pytest.raises(ValueError, match=message):
        property_protocol(properties, "diffusion")
    diffusion["production_ps"], diffusion["n_origins"] = 10.0, properties["n_blocks"] - 1
    with pytest.raises(ValueError, match="n_origins = .* must be >= n_blocks"):
        property_protocol(properties, "diffusion")
