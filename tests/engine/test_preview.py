"""Previews for slow models: a held note hears the new timbre before its whole note."""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest
import torch

import engine.renderer as renderer_module
from engine.bank import GUARD, NOTE_PEAK, NoteBank, splice_preview
from engine.engine import Engine
from engine.events import NoteOn
from engine.render_process import ProcessInstrument, RenderCancelled

RATE = 16000


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from instrument.bundle import save_bundle
    from instrument.config import get_config
    from instrument.networks import Generator
    from instrument.synth import Synth

    cfg = get_config("quarter_2s")
    torch.manual_seed(11)
    path = tmp_path_factory.mktemp("preview") / "q.safetensors"
    save_bundle(path, cfg, Generator(cfg).state_dict(), {"name": "preview test"})
    return Synth.load(path, output_rate=RATE, device="cpu")


def test_splice_puts_the_window_in_with_fades_and_keeps_the_rest():
    n, fade = 1000, 10
    old = np.zeros(n + GUARD, np.float32)
    old[:n] = 0.1
    window = np.full(200, 0.2, np.float32)
    audio, loop = splice_preview(old, None, window, 300, n, fade)
    assert audio.shape == (n + GUARD,) and not audio.flags.writeable
    np.testing.assert_allclose(audio[:300], 0.1)
    np.testing.assert_allclose(audio[310:490], 0.2)
    np.testing.assert_allclose(audio[500:n], 0.1)
    assert 0.1 <= audio[305] <= 0.2 and np.all(np.diff(audio[300:310]) >= 0)
    loud, _ = splice_preview(None, None, np.full(50, 3.0, np.float32), 0, n, 1)
    assert np.abs(loud).max() <= NOTE_PEAK + 1e-6 and np.all(loud[60:] == 0)
    nan, _ = splice_preview(None, None, np.full(50, np.nan, np.float32), 0, n, 1)
    assert np.isfinite(nan).all()


def test_a_preview_does_not_count_as_rendered():
    bank = NoteBank.empty((60, 61), RATE).with_timbre(1, np.zeros(4, np.float32))
    note = (np.zeros(10, np.float32), None)
    bank = bank.with_notes([60], [note], preview=True).with_notes([61], [note])
    assert bank.is_preview(60) and not bank.is_preview(61)
    assert bank.pitches_ready == 1 and not bank.complete
    bank = bank.with_notes([60], [note])
    assert bank.complete and bank.previews is None


def test_a_slow_model_previews_the_held_note_then_renders_it_whole(synth, monkeypatch):
    monkeypatch.setattr(renderer_module, "PREVIEW_ABOVE_MS", 0.0)  # all are "slow"
    rng = np.random.default_rng(2)
    z = rng.standard_normal((2, synth.latent_size)).astype(np.float32)
    engine = Engine(synth)
    out = np.zeros((256, 2), np.float32)
    with engine:
        engine.set_timbre(z[0])
        assert engine.wait_bank(120.0)
        engine.push_event(NoteOn(60, 100))
        for _ in range(20):  # the voice reaches the middle of its note
            engine.process(out)
        assert engine.stats().voices_active == 1
        version = engine.set_timbre(z[1])
        assert engine.wait_bank(120.0)
        for _ in range(2):
            engine.process(out)
    bank = engine.bank
    assert engine._renderer.previews == 2  # the preview and its continuation
    assert bank.version == version and bank.complete and not bank.is_preview(60)
    assert engine.stats().render_errors == 0
    voice = int(np.nonzero(engine.voices.active)[0][0])
    assert engine.voices.note[voice] is bank.note(60)  # the whole note plays now


def test_a_newer_timbre_cancels_the_continuation_but_not_the_first_preview(
    synth, monkeypatch
):
    monkeypatch.setattr(renderer_module, "PREVIEW_ABOVE_MS", 0.0)
    rng = np.random.default_rng(5)
    z = rng.standard_normal((3, synth.latent_size)).astype(np.float32)
    engine = Engine(synth)
    cancels, windows = [], []
    monkeypatch.setattr(synth, "cancel", lambda: cancels.append(1), raising=False)
    real_window = synth.render_window

    def window(latents, pitches, starts, length):
        windows.append(length)
        if len(windows) in (1, 2):  # the player moves on during each preview
            engine.set_timbre(z[len(windows)])
        return real_window(latents, pitches, starts, length)

    out = np.zeros((256, 2), np.float32)
    with engine:
        engine.set_timbre(z[0])
        assert engine.wait_bank(120.0)
        engine.push_event(NoteOn(60, 100))
        for _ in range(4):
            engine.process(out)
        monkeypatch.setattr(synth, "render_window", window)
        cancels.clear()
        engine.set_timbre(z[0] * 0.5)
        assert engine.wait_bank(120.0)
    # the first preview of each request ran to the end (no cancel during it); the
    # second request's continuation was never started (a newer one was waiting)
    assert cancels == [1]  # only the request made outside any preview
    assert windows[0] == windows[1] < windows[-1]  # short previews, then continuation
    assert engine.bank.version == engine._renderer.requested_version


def _make_synth(path: str):
    from instrument.synth import Synth

    return Synth.load(path, output_rate=RATE, device="cpu")


def test_a_cancelled_render_in_the_child_is_dropped_and_the_next_one_renders(
    synth,
):
    path = str(synth.bundle.path)
    with ProcessInstrument(_make_synth, path) as inst:
        assert inst.can_preview
        z = np.zeros((32, inst.latent_size), np.float32)
        pitches = np.full(32, 60)
        caught: list[BaseException] = []

        def render():
            try:
                inst.render(z, pitches)
            except BaseException as err:
                caught.append(err)

        thread = threading.Thread(target=render)
        thread.start()
        time.sleep(0.3)
        inst.cancel()
        thread.join(60)
        assert len(caught) == 1 and isinstance(caught[0], RenderCancelled)
        window = inst.render_window(z[:1], pitches[:1], np.array([100]), 800)
        assert window.shape == (1, 800) and np.abs(window).max() > 0


def _state(pid: int) -> str:
    """The scheduler state letter of a process (Linux /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("State:"):
                return line.split()[1]
    return "?"


def _wait(predicate, seconds: float = 120.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="POSIX signals")
def test_windows_render_in_their_own_child_beside_a_whole_render(synth):
    path = str(synth.bundle.path)
    with ProcessInstrument(_make_synth, path) as inst:
        z = np.random.default_rng(1).standard_normal((1, inst.latent_size))
        z = z.astype(np.float32)
        pitch, start = np.array([60]), np.array([9000])
        before = inst.render_window(z, pitch, start, 2400)  # in the main child
        assert not inst.concurrent_preview
        inst.start_preview_process((0.1,))
        assert _wait(lambda: inst.concurrent_preview)
        windows = inst._windows
        assert windows is not None and windows.proc.pid != inst.pid
        np.testing.assert_array_equal(inst.render_window(z, pitch, start, 2400), before)

        many = np.repeat(z, 24, axis=0)
        done: list[float] = []
        thread = threading.Thread(
            target=lambda: (inst.render(many, np.full(24, 60)), done.append(1))
        )
        thread.start()
        time.sleep(0.2)  # the whole notes are under way in the main child
        t0 = time.perf_counter()
        window = inst.render_window(z, pitch, start, 2400)
        took = time.perf_counter() - t0
        assert not done  # the window did not wait for the whole notes
        np.testing.assert_array_equal(window, before)
        assert _state(inst.pid) != "T"  # the main child runs again after the window
        thread.join(120)
        assert done and took < 5.0
        inst.cancel_window()  # nothing under way: harmless
        assert inst.render_window(z, pitch, start, 100).shape == (1, 100)
    assert not windows.proc.is_alive() and not inst.alive


def test_the_engine_previews_from_its_own_thread_beside_whole_notes(synth, monkeypatch):
    monkeypatch.setattr(renderer_module, "PREVIEW_ABOVE_MS", 0.0)
    path = str(synth.bundle.path)
    rng = np.random.default_rng(8)
    z = rng.standard_normal((4, synth.latent_size)).astype(np.float32)
    out = np.zeros((256, 2), np.float32)
    with ProcessInstrument(_make_synth, path) as inst:
        engine = Engine(inst)
        with engine:
            engine.set_timbre(z[0])
            assert engine.wait_bank(120.0)
            engine.push_event(NoteOn(60, 100))
            for _ in range(8):
                engine.process(out)
            engine.set_timbre(z[1])  # the renderer finds the model slow: a child
            assert engine.wait_bank(120.0)
            assert _wait(lambda: inst.concurrent_preview)
            assert engine._renderer._concurrent()
            previews = engine._renderer.previews
            for latent in z[2:]:
                version = engine.set_timbre(latent)
                assert _wait(lambda v=version: engine.stats().first_note_version == v)
                engine.process(out)
                assert engine.wait_bank(120.0)
            bank = engine.bank
            stats = engine.stats()
    assert engine._renderer.previews >= previews + 2  # one per change at least
    assert bank.version == version and bank.complete and not bank.is_preview(60)
    assert stats.render_errors == 0, stats.last_render_error
