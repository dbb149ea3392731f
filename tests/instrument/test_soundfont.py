"""SoundFont rendering and SoundFontInstrument (a second instrument the host loads)."""

from pathlib import Path

import numpy as np
import pytest

from instrument.soundfont import (
    DEFAULT_SOUNDFONTS,
    SoundFontInstrument,
    SoundFontRenderer,
    find_soundfont,
    resolve_soundfont,
)

SR = 16000


@pytest.fixture(scope="module")
def instrument(soundfont_path):
    return SoundFontInstrument(soundfont_path, SR)


def f0(x, sr):
    n = 8 * len(x)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    lo = int(20 * n / sr)
    return (lo + int(np.argmax(spec[lo:]))) * sr / n


def test_find_soundfont_and_render_note(soundfont_path, sf_renderer):
    assert find_soundfont() is not None
    note = sf_renderer.render_note(73, 69)
    assert note.dtype == np.float32 and note.shape == (4 * SR,)
    assert f0(note[SR // 2 : SR], SR) == pytest.approx(440.0, rel=0.01)
    assert np.abs(note[int(3.6 * SR) :]).max() < 0.1 * np.abs(note).max()  # released


def test_the_instrument_interface(instrument):
    assert instrument.sample_rate == SR and instrument.pitch_range == (24, 84)
    assert instrument.note_length == 4 * SR and instrument.latent_size == 256
    assert instrument.model_id.startswith("sf2:") and instrument.device_name == "CPU"
    assert "SoundFont" in instrument.name and "Flute" in instrument.name
    z = np.random.default_rng(0).standard_normal((3, 256)).astype(np.float32)
    out = instrument.render(z, np.array([24, 60, 84]))
    assert out.shape == (3, 4 * SR) and out.dtype == np.float32
    assert np.isfinite(out).all() and (np.abs(out).max(axis=1) > 0.05).all()
    np.testing.assert_array_equal(out, instrument.render(z, np.array([24, 60, 84])))


def test_notes_are_at_their_pitch(instrument):
    z = instrument.program_latent(73)[None]
    for pitch in (48, 60, 72, 84):
        note = instrument.render(z, np.array([pitch]))[0]
        hz = 440.0 * 2 ** ((pitch - 69) / 12)
        assert f0(note[SR // 2 : SR], SR) == pytest.approx(hz, rel=0.01)


def test_the_latent_morphs_continuously(instrument, rng):
    # from a flute to a violin, both with the norm of a typical N(0, I) latent
    a, b = (instrument.program_latent(p, strength=1.0) for p in (73, 40))
    ts = np.linspace(0, 1, 201)
    w = instrument.weights(np.stack([(1 - t) * a + t * b for t in ts]))
    assert np.allclose(w.sum(axis=1), 1.0)
    assert np.abs(np.diff(w, axis=0)).max() < 0.1  # small steps -> small changes
    assert np.abs(w[0] - w[-1]).max() > 0.9  # from one instrument to the other
    random = instrument.weights(rng.standard_normal((20, 256)))
    assert random.max(axis=1).min() < 0.95 < random.max()  # random latents vary
    one = instrument.weights(instrument.program_latent(40)[None])[0]
    assert one[instrument.programs.index(40)] > 0.99


def test_model_id_names_the_file_and_programs(soundfont_path, instrument):
    other = SoundFontInstrument(soundfont_path, 22050, programs=(0, 40))
    assert other.model_id.split(":")[1] == instrument.model_id.split(":")[1]
    assert other.model_id.endswith(":0-40") and other.model_id != instrument.model_id
    assert other.note_length == 4 * 22050


@pytest.mark.parametrize(
    "latents,pitches,match",
    [
        (np.zeros((2, 10)), np.array([60, 60]), "latents must have shape"),
        (np.zeros((2, 256)), np.array([60]), "pitches must have shape"),
        (np.full((1, 256), np.nan), np.array([60]), "NaN"),
        (np.zeros((1, 256)), np.array([90]), "outside the range"),
        (np.zeros((1, 256)), np.array([60.5]), "integers"),
    ],
)
def test_bad_input_is_refused_with_one_sentence(instrument, latents, pitches, match):
    with pytest.raises(ValueError, match=match):
        instrument.render(latents, pitches)


def test_a_bare_file_name_is_found_in_the_system_folder(soundfont_path, monkeypatch):
    if str(soundfont_path) not in DEFAULT_SOUNDFONTS:
        pytest.skip(f"{soundfont_path} is not in a system SoundFont folder")
    monkeypatch.chdir(soundfont_path.root)  # the name alone is not a file here
    assert resolve_soundfont(soundfont_path.name) == soundfont_path
    assert resolve_soundfont("no-such.sf2") == Path("no-such.sf2")


def test_bad_construction(soundfont_path, tmp_path):
    with pytest.raises(FileNotFoundError):
        SoundFontInstrument(tmp_path / "none.sf2")
    junk = tmp_path / "junk.sf2"
    junk.write_bytes(b"RIFF1234not a soundfont")
    with pytest.raises(ValueError, match="not a readable SoundFont"):
        SoundFontRenderer(junk)
    with pytest.raises(ValueError, match="programs"):
        SoundFontInstrument(soundfont_path, programs=(200,))
    with pytest.raises(ValueError, match="sample rate"):
        SoundFontInstrument(soundfont_path, sample_rate=100)
