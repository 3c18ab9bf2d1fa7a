"""Protocol times become whole MD steps and whole frame intervals, or an error names the key."""
import pytest

from tifusion.md.steps import correlation_frames, frame_steps, stage_steps, to_steps, trajectory_steps


def test_protocol_times_must_be_whole_steps_and_frames():
    assert to_steps(1.0, 0.0005, "x") == 2000
    with pytest.raises(ValueError, match="equilibration_ps"):
        to_steps(0.00075, 0.0005, "equilibration_ps")
    with pytest.raises(ValueError, match="production_ps"):
        frame_steps({"dt_ps": 0.001, "production_ps": 0.25, "frame_interval_ps": 0.1}, "production_ps")
    assert frame_steps({"dt_ps": 0.001, "production_ps": 0.3, "frame_interval_ps": 0.1}, "production_ps") == (300, 100)


def test_unrecorded_stage_must_be_a_multiple_of_the_frame_interval():
    protocol = {"dt_ps": 0.002, "equilibration_ps": 1.0}
    assert stage_steps(protocol, "equilibration_ps", 25) == 500
    with pytest.raises(ValueError, match="equilibration_ps = 1.0 ps must be a multiple of frame_interval_ps = 0.45"):
        stage_steps(protocol, "equilibration_ps", 225)
    assert stage_steps({"dt_ps": 0.002, "npt_ps": 0.0}, "npt_ps", 225) == 0


def test_trajectory_steps_split_total_time_into_equilibration_and_whole_frames():
    md = {"dt_ps": 0.002, "total_ps": 2.0, "equilibration_ps": 0.2, "frame_interval_ps": 0.06,
          "initial_equilibration_ps": 0.4}
    assert trajectory_steps(md) == {"equilibration": 100, "production": 900, "frame_interval": 30, "initial": 200}
    with pytest.raises(ValueError, match="total_ps - equilibration_ps = 1.8 ps .* frame_interval_ps = 0.07"):
        trajectory_steps(dict(md, frame_interval_ps=0.07))
    with pytest.raises(ValueError, match="initial_equilibration_ps"):
        trajectory_steps(dict(md, initial_equilibration_ps=0.0007))


def test_correlation_frames_count_the_last_origin_plus_its_lag():
    # origins at frames 0, 10, ..., 90, each followed by 50 frames of lag: frames 0..140
    assert correlation_frames(0.5, 0.1, 10, 0.01) == (50, 10, 141)
    with pytest.raises(ValueError, match="origin_spacing = 0.015 ps must be a positive multiple of the frame spacing"):
        correlation_frames(0.5, 0.015, 10, 0.01)
