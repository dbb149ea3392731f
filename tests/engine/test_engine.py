"""The engine through ``Engine.process`` on numpy blocks, real SoundFont notes."""

import threading
import time
import tracemalloc

import numpy as np
import pytest

from engine import events as ev
from engine.engine import Engine, EngineSettings
from engine.mixer import CEILING, OutputStage

SR = 16000
BLOCK = 256
FLUTE, VIOLIN, TRUMPET = 73, 40, 56


@pytest.fixture(scope="module")
def instrument(soundfont_path):
    from instrument.soundfont import SoundFontInstrument

    return SoundFontInstrument(soundfont_path, SR, programs=(FLUTE, VIOLIN, TRUMPET))


@pytest.fixture(scope="module")
def flute(instrument):
    return instrument.program_latent(FLUTE)


@pytest.fixture(scope="module")
def violin(instrument):
    return instrument.program_latent(VIOLIN)


def play(engine, seconds, channels=2):
    """Run the engine for ``seconds``: [frames] float32 (channel 0)."""
    blocks = int(round(seconds * SR / BLOCK))
    out = np.zeros((BLOCK, channels), np.float32)
    got = np.empty(blocks * BLOCK, np.float32)
    for b in range(blocks):
        engine.process(out)
        got[b * BLOCK : (b + 1) * BLOCK] = out[:, 0]
    return got


def f0(x):
    """Frequency (Hz) of the strongest spectral peak (a flute's fundamental)."""
    n = 8 * len(x)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    lo = int(20 * n / SR)
    return (lo + int(np.argmax(spec[lo:]))) * SR / n


def midi_hz(key):
    return 440.0 * 2 ** ((key - 69) / 12)


def test_a_note_sounds_at_its_pitch_and_ends_after_its_release(instrument, flute):
    engine = Engine(instrument, EngineSettings(release=0.2))
    engine.render_timbre(flute, [60])
    engine.push_event(ev.NoteOn(60, 100))
    held = play(engine, 1.0)
    assert f0(held[SR // 4 :]) == pytest.approx(midi_hz(60), rel=0.01)
    assert engine.held_notes() == (60,)
    engine.push_event(ev.NoteOff(60))
    tail = play(engine, 0.5)
    assert np.abs(tail[: int(0.05 * SR)]).max() > 0  # the release is heard
    assert not tail[int(0.25 * SR) :].any()
    assert engine.stats().voices_active == 0 and engine.held_notes() == ()


@pytest.mark.parametrize(
    "key,bend,semitones",
    [(72, 0, 0.0), (72, 8191, 2.0), (72, -8192, -2.0), (96, 0, 0.0), (100, 0, 0.0)],
)
def test_pitch_bend_and_transposed_keys_resample(
    instrument, flute, key, bend, semitones
):
    engine = Engine(instrument)
    engine.render_timbre(flute, [min(key, 84)])
    engine.push_event(ev.PitchBend(bend))
    engine.push_event(ev.NoteOn(key, 100))
    x = play(engine, 0.75)[SR // 4 :]
    assert f0(x) == pytest.approx(midi_hz(key + semitones * 8191 / 8191), rel=0.01)


def test_bend_range_is_a_setting(instrument, flute):
    engine = Engine(instrument, EngineSettings(bend_range=12.0))
    engine.render_timbre(flute, [60])
    engine.push_event(ev.PitchBend(4096))  # half way up: 6 semitones
    engine.push_event(ev.NoteOn(60, 100))
    assert f0(play(engine, 0.75)[SR // 4 :]) == pytest.approx(midi_hz(66), rel=0.01)


def test_sustain_pedal_holds_released_keys(instrument, flute):
    engine = Engine(instrument, EngineSettings(release=0.1))
    engine.render_timbre(flute, [60, 64])
    engine.push_event(ev.ControlChange(64, 127))
    engine.push_event(ev.NoteOn(60, 100))
    engine.push_event(ev.NoteOff(60))
    assert np.abs(play(engine, 1.0)[-BLOCK:]).max() > 0.01
    assert engine.held_notes() == (60,)
    engine.push_event(ev.ControlChange(64, 0))
    play(engine, 0.3)
    assert engine.stats().voices_active == 0


@pytest.mark.parametrize(
    "stop,tail_ok",
    [
        (ev.ControlChange(123, 0), True),  # all notes off: releases
        (ev.AllNotesOff(), True),
        (ev.ControlChange(120, 0), False),  # all sound off: at once
        (ev.AllSoundOff(), False),
        (ev.Panic(), False),
    ],
)
def test_all_notes_off_all_sound_off_and_panic(instrument, flute, stop, tail_ok):
    engine = Engine(instrument, EngineSettings(release=0.2))
    engine.render_timbre(flute, [60, 64, 67])
    for k in (60, 64, 67):
        engine.push_event(ev.NoteOn(k, 100))
    engine.push_event(ev.PitchBend(3000))
    play(engine, 0.3)
    engine.push_event(stop)
    first = play(engine, BLOCK / SR)
    assert (np.abs(first).max() > 0) == tail_ok
    play(engine, 0.3)
    assert engine.stats().voices_active == 0
    if isinstance(stop, ev.Panic):
        assert engine.voices.bend_ratio == 1.0


def test_a_held_note_loops_past_the_note_length_without_clicks(instrument, violin):
    engine = Engine(instrument)
    engine.render_timbre(violin, [60])
    engine.push_event(ev.NoteOn(60, 100))
    x = play(engine, 10.0)  # the note is 4 s long, held 3 s
    rms = np.sqrt(np.mean(x[: 10 * SR].reshape(20, -1) ** 2, axis=1))
    assert (rms[1:] > 0.3 * rms[1:4].mean()).all()
    step = np.abs(np.diff(x))
    assert step[2 * SR :].max() < 1.5 * step[SR // 4 : 2 * SR].max()


def test_loop_off_lets_the_note_end(instrument, violin):
    engine = Engine(instrument, EngineSettings(loop=False))
    engine.render_timbre(violin, [60])
    engine.push_event(ev.NoteOn(60, 100))
    play(engine, 4.2)
    assert engine.stats().voices_active == 0


def test_timbre_moves_under_a_held_note_without_click_or_restart(
    instrument, flute, violin
):
    engine = Engine(instrument)
    engine.render_timbre(flute, [60])
    engine.push_event(ev.NoteOn(60, 100))
    before = play(engine, 1.0)
    started = engine.voices.started.copy()
    engine.render_timbre(violin, [60])
    after = play(engine, 1.0)
    assert (engine.voices.started == started).all()  # same voice, not restarted
    assert engine.stats().voices_active == 1
    joined = np.concatenate([before, after])
    step = np.abs(np.diff(joined))
    swap = slice(SR - 2 * BLOCK, SR + 2 * BLOCK)
    assert step[swap].max() < 1.5 * max(step[:SR].max(), step[-SR // 2 :].max())
    a = np.abs(np.fft.rfft(before[-SR // 2 :]))
    b = np.abs(np.fft.rfft(after[-SR // 2 :]))
    assert np.corrcoef(a, b)[0, 1] < 0.9  # the sound did change


def test_a_timbre_dragged_faster_than_the_crossfade_stays_smooth(
    instrument, flute, violin
):
    engine = Engine(instrument, EngineSettings(crossfade_ms=50.0))
    first = engine.render_timbre(flute, [60]).note(60)
    engine.push_event(ev.NoteOn(60, 100))
    parts = [play(engine, 0.5)]
    for t in np.linspace(0, 1, 40):  # a new timbre every block (16 ms < 50 ms)
        engine.render_timbre(((1 - t) * flute + t * violin).astype(np.float32), [60])
        parts.append(play(engine, BLOCK / SR))
    v = engine.voices
    i = int(np.flatnonzero(v.active)[0])
    assert v.old_note[i] is not first  # the sound followed the drag, fade by fade
    parts.append(play(engine, 0.5))
    x = np.concatenate(parts)
    step = np.abs(np.diff(x))
    steady = max(step[SR // 4 : SR // 2].max(), step[-SR // 4 :].max())
    assert step.max() < 1.5 * steady
    assert v.note[i] is engine.bank.note(60) and v.old_note[i] is None  # arrived


def test_the_limiter_never_exceeds_its_ceiling(instrument, flute):
    engine = Engine(instrument, EngineSettings(master_gain=4.0, attack=0.0))
    engine.render_timbre(flute, list(range(48, 85)))
    for k in range(48, 85):
        engine.push_event(ev.NoteOn(k, 127))
    x = play(engine, 1.0)
    assert np.abs(x).max() <= CEILING
    assert engine.stats().limiter_gain < 0.5


def test_nan_and_inf_never_reach_the_output(instrument, flute):
    engine = Engine(instrument)
    engine.render_timbre(flute, [60])
    bad = np.zeros(SR, np.float32)
    bad[::7] = np.nan
    bad[3::7] = np.inf
    engine.push_event(ev.NoteOn(60, 100))
    engine.push_event(ev.NoteOnWithAudio(62, 100, bad, None, 62))
    x = play(engine, 0.5)
    assert np.isfinite(x).all() and engine.stats().nonfinite_blocks > 0
    stage = OutputStage(64, SR)
    mix = np.full(64, np.nan, np.float32)
    out = np.empty((64, 2), np.float32)
    stage.process(mix, 64, 1.0, out)
    assert not out.any() and stage.scrubbed == 1


def test_sixty_four_voices_and_no_more(instrument, flute):
    engine = Engine(instrument)
    engine.render_timbre(flute, list(range(24, 85)))
    for k in range(21, 21 + 80):
        engine.push_event(ev.NoteOn(k, 100))
    play(engine, 0.1)
    assert engine.stats().voices_active == 64
    assert engine.held_notes()[0] == 21 and engine.held_notes()[-1] == 100


def test_a_key_waits_for_its_note_and_never_sticks(instrument, flute):
    engine = Engine(instrument)  # nothing rendered yet
    engine.push_event(ev.NoteOn(60, 100))
    assert not play(engine, 0.1).any() and engine.stats().voices_active == 1
    engine.render_timbre(flute, [60])  # the note arrives while the key is held
    assert np.abs(play(engine, 0.2)).max() > 0.01
    engine.push_event(ev.NoteOn(62, 100))  # no note for 62 yet
    engine.push_event(ev.NoteOff(62))
    play(engine, 0.05)
    assert engine.held_notes() == (60,) and engine.stats().voices_active == 1


def test_an_event_flood_leaves_no_stuck_note(instrument, flute, rng):
    engine = Engine(instrument, EngineSettings(release=0.05))
    engine.render_timbre(flute, list(range(24, 85)))
    out = np.zeros((BLOCK, 2), np.float32)
    keys = rng.integers(21, 109, 10_000)
    for b in range(200):  # 10,000 events in 200 blocks (~3 s): ~3,000 events/s
        for k in keys[b * 50 : (b + 1) * 50]:
            e = ev.NoteOn(int(k), 100) if k % 2 else ev.NoteOff(int(k - 1))
            engine.push_event(e)
        engine.process(out)
    for k in range(21, 109):
        engine.push_event(ev.NoteOff(k))
    play(engine, 0.3)
    stats = engine.stats()
    assert stats.voices_active == 0 and engine.held_notes() == ()
    assert stats.events_dropped == 0 and stats.callback_errors == 0


def test_process_never_raises(instrument):
    engine = Engine(instrument)
    engine.push_event(ev.NoteOn(60, 100))
    bad = np.ones(BLOCK, np.float32)  # 1-D: not [frames, channels]
    engine.process(bad)
    assert not bad.any() and engine.stats().callback_errors == 1


def test_velocity_curve_and_gain_settings_take_effect(instrument, flute):
    engine = Engine(instrument, EngineSettings(velocity_curve="fixed"))
    engine.render_timbre(flute, [60])
    engine.push_event(ev.NoteOn(60, 10))
    loud = np.abs(play(engine, 0.5)).max()
    engine.push_event(ev.AllSoundOff())
    engine.update_settings(EngineSettings(velocity_curve="linear", master_gain=0.25))
    engine.push_event(ev.NoteOn(60, 10))
    quiet = np.abs(play(engine, 0.5)).max()
    assert quiet == pytest.approx(loud * 10 / 127 / 2, rel=0.05)


def test_scope_holds_the_latest_output(instrument, flute):
    engine = Engine(instrument)
    engine.render_timbre(flute, [60])
    engine.push_event(ev.NoteOn(60, 100))
    x = play(engine, 0.5)
    np.testing.assert_array_equal(engine.scope.read(1000), x[-1000:])
    assert engine.scope.written == len(x)


@pytest.mark.slow
def test_process_allocates_less_than_one_block(instrument, flute, violin):
    """PortAudio's contract: 2000 blocks, 16 voices, bends and bank swaps."""
    pitches = list(range(48, 64))
    engine = Engine(instrument)
    banks = [engine.render_timbre(z, pitches) for z in (flute, violin)]
    bends = [ev.PitchBend(v) for v in range(-8000, 8000, 500)]
    for k in pitches:
        engine.push_event(ev.NoteOn(k, 100))
    out = np.zeros((BLOCK, 2), np.float32)

    def run(blocks):
        for b in range(blocks):
            if b % 50 == 0:
                engine.bank = banks[(b // 50) % 2]  # a swap, as the renderer does
            engine.push_event(bends[b % len(bends)])
            engine.process(out)

    run(200)  # warm up: numpy fills its per-dtype loop caches once
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        run(2000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert engine.stats().voices_active == 16 and engine.stats().callback_errors == 0
    assert peak - base < out.nbytes


class RecordingInstrument:
    """A real instrument whose render calls are recorded and can be held at a gate."""

    def __init__(self, inner):
        self._inner = inner
        self.calls = []
        self.gate = threading.Event()
        self.gate.set()

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def render(self, latents, pitches):
        self.calls.append((latents[0].copy(), [int(p) for p in pitches]))
        assert self.gate.wait(30.0)
        return self._inner.render(latents, pitches)


def _calls_for(rec, z):
    return [p for latent, p in rec.calls if np.array_equal(latent, z)]


def test_renderer_thread_renders_held_pitches_first(instrument, flute, violin):
    rec = RecordingInstrument(instrument)
    engine = Engine(rec)
    with engine:
        engine.set_timbre(flute)
        assert engine.wait_bank(30.0)
        stats = engine.stats()
        assert stats.bank_progress == 1.0 and stats.bank_pitches_ready == 61
        engine.push_event(ev.NoteOn(70, 100))
        engine.push_event(ev.NoteOn(30, 100))
        play(engine, 0.05)
        last = engine.set_timbre(violin)
        assert engine.wait_bank(30.0)
        assert engine.bank.version == last and engine.stats().first_note_ms > 0
        np.testing.assert_array_equal(engine.bank.latent, violin)
    ours = _calls_for(rec, violin)
    assert ours[0] == [30, 70]  # the held keys' pitches first, in one call
    assert all(len(p) == 1 for p in ours[1:])  # then one note per call
    assert sorted(sum(ours, [])) == list(range(24, 85))


def test_the_newest_request_wins_and_older_ones_are_abandoned(
    instrument, flute, violin
):
    rec = RecordingInstrument(instrument)
    engine = Engine(rec)
    middle = ((flute + violin) / 2).astype(np.float32)
    with engine:
        rec.gate.clear()  # the renderer will stop inside its first render call
        engine.set_timbre(flute)
        deadline = time.monotonic() + 30.0
        while not rec.calls and time.monotonic() < deadline:
            time.sleep(0.01)
        engine.set_timbre(violin)  # pending: replaced by the next one, never rendered
        last = engine.set_timbre(middle)
        rec.gate.set()
        assert engine.wait_bank(30.0)
        assert engine.bank.version == last
    assert len(_calls_for(rec, flute)) == 1  # abandoned after its first note
    assert _calls_for(rec, violin) == []  # dropped while pending
    assert sorted(sum(_calls_for(rec, middle), [])) == list(range(24, 85))


def test_replaced_banks_are_dropped_by_the_retire_thread(instrument, flute, violin):
    engine = Engine(instrument)
    engine.retire_grace_s = 0.05
    with engine:
        first = engine.render_timbre(flute, [60])
        engine.render_timbre(violin, [60])
        assert any(bank is first for _, bank in engine._retired)
        deadline = time.monotonic() + 5.0
        while engine._retired and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not engine._retired


def test_wait_bank_times_out_when_nothing_renders(instrument, flute):
    engine = Engine(instrument)  # not started
    engine.set_timbre(flute)
    t0 = time.monotonic()
    assert not engine.wait_bank(0.2)
    assert time.monotonic() - t0 < 5.0


@pytest.mark.parametrize(
    "latent",
    [np.zeros(10, np.float32), np.zeros((1, 256), np.float32), np.full(256, np.nan)],
)
def test_bad_latents_are_refused(instrument, latent):
    with pytest.raises(ValueError):
        Engine(instrument).set_timbre(latent)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_voices": 0},
        {"max_voices": 1000},
        {"sustain": 1.5},
        {"attack": -1.0},
        {"velocity_curve": "loud"},
        {"master_gain": 10.0},
        {"crossfade_ms": 0.0},
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        EngineSettings(**kwargs)
    with pytest.raises(ValueError, match="unknown engine settings"):
        EngineSettings.from_dict({"volume": 1})


def test_an_object_without_the_instrument_interface_is_refused():
    with pytest.raises(ValueError, match="is not an instrument"):
        Engine(object())


def test_a_flood_of_events_leaves_no_stuck_note(instrument, flute):
    """53 events per block (10,000/s at 48 kHz, 256 frames), then every key up."""
    engine = Engine(instrument)
    engine.render_timbre(flute, list(range(24, 85)))
    rng = np.random.default_rng(3)
    out = np.zeros((BLOCK, 2), np.float32)
    down: list[int] = []
    for _ in range(200):
        for r, a, b in rng.integers(0, 128, size=(53, 3)):
            if r < 10:
                engine.push_event(ev.PitchBend(int(a) * 128 - 8192))
            elif r < 14:
                engine.push_event(ev.ControlChange(64, int(a)))  # the pedal too
            elif down and r < 70:
                engine.push_event(ev.NoteOff(down.pop(int(b) % len(down))))
            else:
                down.append(21 + int(a) % 88)
                engine.push_event(ev.NoteOn(down[-1], 1 + int(b) % 127))
        engine.process(out)
        playing = engine.voices.active & ~engine.voices.stolen
        assert np.count_nonzero(playing) <= 64 and np.isfinite(out).all()
    assert engine.voices.count() > 0
    for key in down:
        engine.push_event(ev.NoteOff(key))
    engine.push_event(ev.ControlChange(64, 0))
    play(engine, 0.5)
    assert engine.held_notes() == () and engine.voices.count() == 0
    assert engine.stats().callback_errors == 0 and engine.stats().events_dropped == 0
