"""The pad's timbre model: corners, cursor, re-roll, capture, mutate."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.latent import pad_latent
from ui.timbre import PadModel


@pytest.mark.parametrize("size", [16, 256])
def test_the_latent_is_the_pad_morph_of_the_corners(size):
    m = PadModel(size, seed=3)
    m.move(0.25, 0.75)
    np.testing.assert_array_equal(m.latent(), pad_latent(m.corners, 0.25, 0.75))
    assert m.latent().dtype == np.float32 and m.latent().shape == (size,)
    assert m.weights().sum() == pytest.approx(1.0)
    m.move(-3, 9)  # clamped to the pad
    assert (m.x, m.y) == (0.0, 1.0)
    np.testing.assert_array_equal(m.latent(), m.corners[2])


def test_reroll_changes_one_corner_only():
    m = PadModel(32, seed=1)
    before = m.corners.copy()
    m.reroll(1, seed=99)
    assert m.names[1] == "Random 99"
    assert not np.allclose(m.corners[1], before[1])
    np.testing.assert_array_equal(np.delete(m.corners, 1, 0), np.delete(before, 1, 0))


def test_capture_puts_the_sound_now_playing_in_a_corner():
    m = PadModel(32, seed=1)
    m.move(0.6, 0.3)
    playing = m.latent()
    m.capture(0)
    np.testing.assert_array_equal(m.corners[0], playing)


def test_mutate_nudges_the_current_latent_a_little():
    m = PadModel(256, seed=1)
    m.move(0.4, 0.6)
    before = m.latent()
    m.mutate(0.15, seed=5)
    after = m.latent()
    cos = after @ before / np.linalg.norm(after) / np.linalg.norm(before)
    assert 0.8 < cos < 0.9999
    assert all(n.endswith("*") for n in m.names)


def test_state_round_trips_and_a_foreign_state_is_refused():
    m = PadModel(16, seed=1)
    m.move(0.1, 0.2)
    other = PadModel(16, seed=2)
    assert other.restore(m.to_json())
    np.testing.assert_array_equal(other.corners, m.corners)
    assert (other.x, other.y) == (0.1, 0.2)
    wrong = PadModel(8, seed=2)
    kept = wrong.corners.copy()
    assert not wrong.restore(m.to_json())  # another latent size: nothing changes
    np.testing.assert_array_equal(wrong.corners, kept)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda m: m.set_corner(4, np.zeros(16), "x"), "corner must be 0-3"),
        (lambda m: m.set_corner(0, np.zeros(15), "x"), r"shape \(16,\)"),
        (lambda m: m.mutate(0.0), "mutation amount"),
        (lambda m: m.load(np.zeros((3, 16)), ["a"] * 4, 0, 0), r"shape \(4, 16\)"),
    ],
)
def test_bad_input_is_refused_in_one_sentence(call, words):
    with pytest.raises(ValueError, match=words):
        call(PadModel(16, seed=0))
