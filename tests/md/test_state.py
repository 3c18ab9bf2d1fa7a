"""Neighbour-slot sizing: counts over frames and the capacity of stored frames."""
import numpy as np

from tifusion.graph import build_graph, image_range, overflowed
from tifusion.md.state import frames_capacity, max_neighbor_count
from tifusion.structures import hcp_supercell

CUTOFF = 0.5  # nm


def hcp_frames(seed=0):
    positions, box = hcp_supercell(0.295, 0.468, (5, 5, 3))
    rng = np.random.default_rng(seed)
    frames = positions[None] + 0.01 * rng.standard_normal((6,) + positions.shape)
    frames[3, 0] = frames[3, 1] + 0.2 * (frames[3, 0] - frames[3, 1])  # one crowded atom in one frame
    return frames, box


def test_neighbour_count_of_frames_is_the_largest_single_frame_count():
    frames, box = hcp_frames()
    counts = [max_neighbor_count(frame, box, CUTOFF) for frame in frames]
    assert max(counts) > min(counts)  # the crowded frame stands out
    assert max_neighbor_count(frames, box, CUTOFF) == max(counts)


def test_frames_capacity_fits_every_frame_with_one_spare_slot_in_steps_of_four():
    frames, box = hcp_frames()
    count = max_neighbor_count(frames, box, CUTOFF)
    capacity = frames_capacity(frames, box, CUTOFF)
    assert capacity % 4 == 0 and count + 1 <= capacity < count + 5
    n_images = image_range(box, CUTOFF)
    assert not any(bool(overflowed(build_graph(frame, box, CUTOFF, capacity, n_images))) for frame in frames)
    assert frames_capacity(frames, box, CUTOFF, multiple=1) == count + 1
