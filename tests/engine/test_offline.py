"""Offline render: MIDI file -> WAV through the same engine, block by block."""

import mido
import numpy as np
import pytest
import soundfile as sf

from engine.bank import prepare_note
from engine.engine import EngineSettings
from engine.offline import MidiFileError, note_latents, read_midi, render_midi_file

SR = 16000


@pytest.fixture(scope="module")
def instrument(soundfont_path):
    from instrument.soundfont import SoundFontInstrument

    return SoundFontInstrument(soundfont_path, SR, programs=(73, 40))


def write_midi(path, notes, tempo=500000, extra=()):
    """notes: (key, start s, end s, velocity); one track at 480 ticks per beat."""
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    msgs = []
    for key, start, end, vel in notes:
        msgs.append((start, 1, mido.Message("note_on", note=key, velocity=vel)))
        msgs.append((end, 0, mido.Message("note_off", note=key, velocity=0)))
    msgs.extend(extra)
    now = 0
    for t, _, msg in sorted(msgs, key=lambda m: (m[0], m[1])):
        tick = round(mido.second2tick(t, 480, tempo))
        track.append(msg.copy(time=tick - now))
        now = tick
    mid.save(path)
    return path


def f0(x):
    n = 8 * len(x)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    lo = int(20 * n / SR)
    return (lo + int(np.argmax(spec[lo:]))) * SR / n


def hz(key):
    return 440.0 * 2 ** ((key - 69) / 12)


def test_notes_sound_at_their_pitch_and_time(tmp_path, instrument):
    notes = [
        (60, 0.1, 0.6, 100),
        (76, 0.8, 1.3, 100),
        (100, 1.5, 2.0, 100),
        (21, 2.2, 2.7, 90),
    ]
    mid = write_midi(tmp_path / "in.mid", notes)
    out = tmp_path / "out.wav"
    flute = instrument.program_latent(73)
    result = render_midi_file(instrument, mid, out, latent=flute)
    x, rate = sf.read(out, dtype="float32")
    info = sf.info(out)
    assert rate == SR and x.shape[1] == 2 and info.subtype == "PCM_24"
    assert result.notes == 4 and result.seconds == pytest.approx(len(x) / SR)
    assert 2.7 + 0.3 <= result.seconds <= 2.7 + 0.3 + 1.1  # release, then it stops
    mono = x[:, 0]
    for key, start, end, _ in notes[:3]:
        seg = mono[int((start + 0.1) * SR) : int(end * SR)]
        assert f0(seg) == pytest.approx(hz(key), rel=0.01)
    onset = int(np.argmax(np.abs(mono) > 1e-4))
    assert abs(onset - 0.1 * SR) <= 0.005 * SR  # sample-accurate event timing
    assert np.abs(mono[int(2.3 * SR) : int(2.7 * SR)]).max() > 0.003  # key 21 sounds


def test_a_note_longer_than_the_render_is_held_by_the_loop(tmp_path, instrument):
    mid = write_midi(tmp_path / "long.mid", [(60, 0.0, 7.0, 100)])
    out = tmp_path / "long.wav"
    render_midi_file(instrument, mid, out, latent=instrument.program_latent(40))
    x, _ = sf.read(out, dtype="float32")
    early = np.sqrt(np.mean(x[SR : 2 * SR, 0] ** 2))
    late = np.sqrt(np.mean(x[6 * SR : 7 * SR, 0] ** 2))
    assert late > 0.3 * early


def test_the_pedal_left_down_at_the_end_does_not_hang(tmp_path, instrument):
    pedal = (0.0, 0, mido.Message("control_change", control=64, value=127))
    mid = write_midi(tmp_path / "pedal.mid", [(64, 0.1, 0.3, 80)], extra=[pedal])
    settings = EngineSettings(release=0.1)
    result = render_midi_file(instrument, mid, tmp_path / "p.wav", settings=settings)
    assert result.seconds < 0.3 + 0.1 + 1.1


def test_interpolate_gives_each_note_its_own_timbre(tmp_path, instrument):
    notes = [(60 + 2 * i, 1.0 * i, 1.0 * i + 0.4, 100) for i in range(5)]
    mid = write_midi(tmp_path / "in.mid", notes)
    out = tmp_path / "interp.wav"
    render_midi_file(instrument, mid, out, interpolate_seconds=2.0, seed=3)
    x, _ = sf.read(out, dtype="float32")
    zs = note_latents(np.array([n[1] for n in notes]), 2.0, instrument.latent_size, 3)
    gain = 0.5 * 100 / 127  # master gain x linear velocity; the envelope is at 1
    a, b = int(0.05 * SR), int(0.35 * SR)
    for (key, start, _, _), z in zip(notes, zs, strict=True):
        note = instrument.render(z[None], np.array([key]))[0]
        expect = prepare_note(note, SR)[0][a:b] * gain  # the bank's level rule
        got = x[int(start * SR) + a : int(start * SR) + b, 0]
        np.testing.assert_allclose(got, expect, atol=1e-4)  # the note's own latent
    w = instrument.weights(zs)
    assert np.abs(w[0] - w[-1]).max() > 0.05  # and the timbre did move
    # a clip shorter than one interpolation step still works (GANSynth's n < 2 crash)
    render_midi_file(instrument, mid, tmp_path / "short.wav", interpolate_seconds=60.0)


def test_note_latents_follow_gansynth():
    from instrument.latent import random_latents, slerp

    starts = np.array([0.0, 0.5, 1.0, 2.25, 9.0])
    z = note_latents(starts, 1.0, 8, seed=5)
    anchors = random_latents(11, 8, 5)
    assert z.shape == (5, 8) and z.dtype == np.float32
    np.testing.assert_allclose(z[0], anchors[0], rtol=1e-5)
    np.testing.assert_allclose(z[2], anchors[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z[3], slerp(anchors[2], anchors[3], 0.25), rtol=1e-5)
    assert note_latents(np.array([0.0]), 100.0, 8).shape == (1, 8)
    with pytest.raises(ValueError):
        note_latents(starts, 0.0, 8)


@pytest.mark.parametrize(
    "content",
    [b"not a midi file at all", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01", b""],
)
def test_a_malformed_midi_file_leaves_nothing_behind(tmp_path, instrument, content):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(content)
    out = tmp_path / "out.wav"
    with pytest.raises(MidiFileError) as info:
        render_midi_file(instrument, bad, out)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mid"]


def test_an_existing_output_survives_a_failed_render(tmp_path, instrument):
    out = tmp_path / "out.wav"
    out.write_bytes(b"previous render")
    with pytest.raises(MidiFileError, match="not found"):
        render_midi_file(instrument, tmp_path / "missing.mid", out)
    empty = write_midi(tmp_path / "empty.mid", [])
    with pytest.raises(MidiFileError, match="no notes"):
        render_midi_file(instrument, empty, out)
    assert out.read_bytes() == b"previous render"


def test_read_midi_orders_events_in_seconds(tmp_path):
    mid = write_midi(tmp_path / "t.mid", [(60, 0.25, 0.5, 64)], tempo=250000)
    events = read_midi(mid)
    assert [round(t, 3) for t, _ in events] == [0.25, 0.5]


def test_latent_and_interpolate_are_exclusive(tmp_path, instrument):
    mid = write_midi(tmp_path / "t.mid", [(60, 0.0, 0.1, 64)])
    with pytest.raises(ValueError, match="not both"):
        render_midi_file(
            instrument,
            mid,
            tmp_path / "o.wav",
            latent=np.zeros(256),
            interpolate_seconds=1,
        )
