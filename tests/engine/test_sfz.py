"""SFZ export: parse the .sfz back and check every sample, rate, key and loop."""

import re

import numpy as np
import pytest
import soundfile as sf

from engine.engine import EngineSettings
from engine.sfz import export_sfz, key_ranges

SR = 16000


@pytest.fixture(scope="module")
def instrument(soundfont_path):
    from instrument.soundfont import SoundFontInstrument

    return SoundFontInstrument(soundfont_path, SR, programs=(40,))


def parse_sfz(text):
    """[(header, {opcode: value})] from SFZ text (comments dropped)."""
    text = re.sub(r"//[^\n]*", "", text)
    sections = []
    for header, body in re.findall(r"<(\w+)>([^<]*)", text):
        sections.append((header, dict(re.findall(r"(\w+)=(\S+)", body))))
    return sections


@pytest.fixture(scope="module")
def exported(instrument, tmp_path_factory):
    out = tmp_path_factory.mktemp("sfz") / "export"
    settings = EngineSettings(attack=0.01, release=0.8, sustain=0.9)
    latent = instrument.program_latent(40)
    path = export_sfz(instrument, latent, out, name="violin", settings=settings)
    return path, parse_sfz(path.read_text())


def test_every_region_has_its_sample_at_the_rate(exported):
    path, sections = exported
    control = dict(sections[0][1])
    assert sections[0][0] == "control" and control["default_path"] == "samples/"
    regions = [o for h, o in sections if h == "region"]
    assert len(regions) == 61
    for r in regions:
        wav = path.parent / control["default_path"] / r["sample"]
        info = sf.info(wav)
        assert info.samplerate == SR and info.channels == 1 and info.subtype == "PCM_24"
        assert info.frames == 4 * SR
        start, end = int(r["loop_start"]), int(r["loop_end"])
        assert 0 < start < end < info.frames


def test_keys_21_to_108_are_covered_once_by_the_nearest_pitch(exported):
    _, sections = exported
    covered = {}
    for h, r in sections:
        if h != "region":
            continue
        center = int(r["pitch_keycenter"])
        for k in range(int(r["lokey"]), int(r["hikey"]) + 1):
            assert k not in covered
            covered[k] = center
    assert sorted(covered) == list(range(21, 109))
    assert all(c == min(max(k, 24), 84) for k, c in covered.items())


def test_velocity_tracking_envelope_and_loop_mode(exported):
    _, sections = exported
    glob = dict(sections[1][1])
    assert sections[1][0] == "global"
    assert glob["amp_veltrack"] == "100" and glob["loop_mode"] == "loop_continuous"
    assert float(glob["ampeg_release"]) == 0.8 and float(glob["ampeg_sustain"]) == 90
    assert float(glob["ampeg_attack"]) == pytest.approx(0.01)


def test_samples_are_the_instruments_notes(exported, instrument):
    path, sections = exported
    r = [o for h, o in sections if h == "region" and o["pitch_keycenter"] == "60"][0]
    x, _ = sf.read(path.parent / "samples" / r["sample"], dtype="float32")
    note = instrument.render(instrument.program_latent(40)[None], np.array([60]))[0]
    head = int(r["loop_start"]) - 400  # before the baked loop crossfade
    np.testing.assert_allclose(x[:head], note[:head], atol=1e-5)


def test_resampled_export(instrument, tmp_path):
    path = export_sfz(
        instrument, instrument.program_latent(40), tmp_path, sample_rate=22050
    )
    first = sorted((tmp_path / "samples").iterdir())[0]
    assert sf.info(first).samplerate == 22050
    assert sf.info(first).frames == pytest.approx(4 * 22050, abs=2)
    assert path.name == "gansynth.sfz"
    assert not [p for p in tmp_path.rglob("*.part")]


def test_bad_latent_and_name_are_refused(instrument, tmp_path):
    with pytest.raises(ValueError, match="latent"):
        export_sfz(instrument, np.zeros(3), tmp_path)
    with pytest.raises(ValueError, match="file name"):
        export_sfz(instrument, np.zeros(256), tmp_path, name="a/b")


def test_key_ranges_stretch_the_ends():
    ranges = key_ranges((24, 84))
    assert ranges[0] == (24, 21, 24) and ranges[-1] == (84, 84, 108)
    assert ranges[1] == (25, 25, 25)
