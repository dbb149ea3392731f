"""engine.render_process: the instrument in a child process, as live play runs it."""

from __future__ import annotations

import os
import signal
import sys

import numpy as np
import pytest

import main
from engine.engine import Engine
from engine.render_process import ProcessInstrument, RendererProcessError

RATE = 16000


@pytest.fixture(scope="module")
def remote(soundfont_path):
    inst = ProcessInstrument(main.load_instrument, str(soundfont_path), RATE)
    yield inst
    inst.close()


def test_the_child_renders_what_the_instrument_renders(remote, soundfont_path):
    local = main.load_instrument(str(soundfont_path), RATE)
    for name in ("sample_rate", "pitch_range", "latent_size", "note_length"):
        assert getattr(remote, name) == getattr(local, name), name
    assert remote.model_id == local.model_id and remote.name == local.name
    assert remote.pid != os.getpid() and remote.alive
    rng = np.random.default_rng(0)
    latents = rng.standard_normal((3, local.latent_size)).astype(np.float32)
    pitches = np.array([40, 60, 72])
    got = remote.render(latents, pitches)
    want = local.render(latents, pitches)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert np.abs(got).max() > 0.01  # real notes, not silence


def test_the_engine_plays_a_bank_rendered_in_the_child(remote):
    engine = Engine(remote)
    with engine:
        engine.set_timbre(np.zeros(remote.latent_size, np.float32))
        assert engine.wait_bank(60.0)
    stats = engine.stats()
    assert stats.render_errors == 0 and stats.bank_progress == 1.0
    assert all(note is not None for note in engine.bank.notes)


def test_a_failed_render_is_the_same_error_and_the_child_lives_on(remote):
    with pytest.raises(ValueError, match="latent"):
        remote.render(np.zeros((1, 3), np.float32), np.array([60]))
    assert remote.alive
    note = remote.render(np.zeros((1, remote.latent_size)), np.array([60]))
    assert note.shape[0] == 1


def test_a_model_that_fails_to_load_is_one_sentence_of_the_same_type(tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a model at all")
    with pytest.raises((OSError, ValueError)) as info:
        ProcessInstrument(main.load_instrument, str(bad), RATE)
    assert "broken.safetensors" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_dead_child_is_one_sentence_not_a_hang(soundfont_path):
    inst = ProcessInstrument(main.load_instrument, str(soundfont_path), RATE)
    os.kill(inst.pid, signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM)
    inst._proc.join(10)
    with pytest.raises(RendererProcessError, match="renderer process"):
        inst.render(np.zeros((1, inst.latent_size), np.float32), np.array([60]))
    inst.close()
    inst.close()  # twice is harmless
