"""Voices: resampled reads, loops, envelopes, velocity curves, stealing."""

import numpy as np
import pytest

from engine import envelope as env
from engine.bank import NoteBank, prepare_note
from engine.voices import (
    VELOCITY_CURVES,
    VoicePool,
    _Scratch,
    read_note,
    velocity_table,
)

SR = 16000


@pytest.fixture(scope="module")
def note(sf_renderer):
    return prepare_note(sf_renderer.render_note(73, 60), SR)  # flute, middle C


@pytest.fixture(scope="module")
def bank(note):
    b = NoteBank.empty((24, 84), SR).with_timbre(1, np.zeros(4, np.float32))
    return b.with_notes(list(range(24, 85)), [note] * 61)


def test_read_at_rate_one_is_the_note(note):
    audio, _ = note
    out = np.empty(256, np.float32)
    pos = read_note(audio, None, 1000.0, 1.0, 256, out, _Scratch(512))
    assert pos == 1256.0
    np.testing.assert_array_equal(out, audio[1000:1256])


def test_fractional_read_interpolates_linearly(note):
    audio, _ = note
    out = np.empty(100, np.float32)
    read_note(audio, None, 1000.5, 1.0, 100, out, _Scratch(512))
    expect = 0.5 * (audio[1000:1100] + audio[1001:1101])
    np.testing.assert_allclose(out, expect, atol=1e-6)
    read_note(audio, None, 1000.0, 2.0, 100, out, _Scratch(512))  # an octave up
    np.testing.assert_allclose(out, audio[1000:1200:2], atol=1e-6)


def test_read_past_the_end_gives_zeros(note):
    audio, _ = note
    n = len(audio) - 4
    out = np.ones(64, np.float32)
    read_note(audio, None, float(n - 10), 1.0, 64, out, _Scratch(512))
    assert not out[10:].any()
    read_note(audio, None, float(n - 10) + 0.25, 1.5, 64, out, _Scratch(512))
    assert not out[8:].any()


@pytest.mark.parametrize("rate", [1.0, 0.75, 1.3])
def test_loop_wraps_back_to_its_start(note, rate):
    audio, loop = note
    s = _Scratch(4096)
    pos = float(loop.end - 100)
    out = np.empty(1024, np.float32)
    new = read_note(audio, loop, pos, rate, 1024, out, s)
    assert loop.start <= new < loop.end
    assert new == pytest.approx(loop.start + (pos + rate * 1024 - loop.end))


def test_velocity_curves_are_monotone_tables():
    for name in VELOCITY_CURVES:
        t = velocity_table(name)
        assert t.shape == (128,) and t[0] == 0 and t[127] == pytest.approx(1.0)
        assert (np.diff(t[1:]) >= 0).all()
    assert velocity_table("soft")[40] > velocity_table("linear")[40]
    assert velocity_table("hard")[40] < velocity_table("linear")[40]
    assert velocity_table("fixed")[1] == 1.0
    with pytest.raises(ValueError, match="unknown velocity curve"):
        velocity_table("loud")


def test_adsr_stages_and_release_from_current_level():
    p = env.Adsr.from_seconds(0.01, 0.01, 0.5, 0.1, SR)  # 160, 160, 0.5, 1600
    stage, level = env.advance(env.ATTACK, 0.0, 0.0, 80, p)
    assert stage == env.ATTACK and level == pytest.approx(0.5)
    step = env.release(level, p)  # released half-way through the attack
    stage, level = env.advance(env.RELEASE, level, step, 800, p)
    assert stage == env.RELEASE and level == pytest.approx(0.25)
    assert env.advance(env.RELEASE, level, step, 800, p) == (env.IDLE, 0.0)
    stage, level = env.advance(env.ATTACK, 0.9, 0.0, 160, p)
    assert (stage, level) == (env.DECAY, 1.0)
    assert env.advance(env.DECAY, 1.0, 0.0, 1000, p) == (env.SUSTAIN, 0.5)
    with pytest.raises(ValueError):
        env.Adsr(0, 1, 0.5, 1)


def _pool(max_voices, bank):
    pool = VoicePool(16, 512, SR)
    pool.max_voices = max_voices
    return pool


def playing(pool):
    """Keys of the voices that play (not stolen and fading out)."""
    return sorted(int(k) for k in pool.key[pool.active & ~pool.stolen])


def test_stealing_takes_the_same_key_first(bank):
    pool = _pool(4, bank)
    for k in (40, 50, 60, 70):
        pool.note_on(k, 1.0, 0, bank)
    pool.note_on(50, 0.5, 0, bank)
    assert playing(pool) == [40, 50, 60, 70]
    fading = pool.active & pool.stolen
    assert pool.key[fading].tolist() == [50] and pool.stage[fading][0] == env.RELEASE
    assert pool.vel_gain[pool.active & ~pool.stolen & (pool.key == 50)][0] == 0.5


def test_stealing_takes_the_oldest_released_then_protects_bass_and_top(bank):
    adsr = env.Adsr.from_seconds(0.01, 0.1, 1.0, 0.5, SR)
    pool = _pool(4, bank)
    for k in (40, 50, 60, 70):
        pool.note_on(k, 1.0, 0, bank)
    pool.note_off(60, 0, adsr)
    pool.note_on(65, 1.0, 0, bank)  # the released 60 goes
    assert playing(pool) == [40, 50, 65, 70]
    pool.note_on(45, 1.0, 0, bank)  # all held: oldest inner key (50), not 40 or 70
    assert playing(pool) == [40, 45, 65, 70]
    pool.note_on(80, 1.0, 0, bank)  # oldest inner key now is 65
    assert playing(pool) == [40, 45, 70, 80]


def test_stolen_voices_fade_out_without_a_click(bank):
    adsr = env.Adsr.from_seconds(0.001, 0.1, 1.0, 0.5, SR)
    pool = _pool(1, bank)
    mix = np.zeros(512, np.float32)
    pool.note_on(60, 1.0, 0, bank)
    for _ in range(8):  # 0.25 s: the note is at full level
        mix[:] = 0.0
        pool.render(mix, 512, adsr)
    before = mix.copy()
    pool.note_on(72, 1.0, 0, bank)  # steals the only voice
    mix[:] = 0.0
    pool.render(mix, 512, adsr)
    joined = np.concatenate([before, mix])
    steps = np.abs(np.diff(joined))
    assert steps[500:520].max() <= 1.5 * steps[:500].max()  # no jump at the steal
    mix[:] = 0.0
    pool.render(mix, 512, adsr)
    assert playing(pool) == [72] and pool.count() == 1  # the fade has ended


def test_keys_outside_the_trained_range_are_transposed(bank):
    pool = _pool(8, bank)
    pool.note_on(96, 1.0, 0, bank)
    pool.note_on(21, 1.0, 0, bank)
    pool.note_on(10, 1.0, 0, bank)  # below the piano range: ignored
    assert pool.count() == 2
    i96 = int(np.nonzero(pool.key == 96)[0][0])
    assert pool.pitch[i96] == 84 and pool.base_rate[i96] == pytest.approx(2.0)
    i21 = int(np.nonzero(pool.key == 21)[0][0])
    assert pool.pitch[i21] == 24 and pool.base_rate[i21] == pytest.approx(
        2 ** (-3 / 12)
    )


@pytest.mark.parametrize(
    "keys,bend",
    [
        ((40, 60, 67, 80), 1.0),  # voice by voice, slices
        ((40, 60, 67, 90), 1.0),  # 90: transposed up from 84: [voices, frames] planes
        ((40, 60, 67, 80), 2 ** (-150 / 1200)),
        ((40, 60, 67, 90), 2 ** (700 / 1200)),
    ],
)
def test_the_pool_plays_what_each_voice_reads(bank, note, keys, bend):
    """Every voice's block equals ``read_note`` at its own rate, loops included."""
    audio, loop = note
    adsr = env.Adsr(1, 1, 1.0, 100)  # full level from the second block on
    pool = VoicePool(16, 512, SR)
    gains = (1.0, 0.5, 0.25, 0.75)
    for k, g in zip(keys, gains, strict=True):
        pool.note_on(k, g, 0, bank)
    pool.bend_ratio = bend
    rates = [bend * 2.0 ** ((k - min(k, 84)) / 12) for k in keys]
    pos = [0.0] * len(keys)
    s, sig, n = _Scratch(512), np.empty(200, np.float32), 200
    mix = np.zeros(n, np.float32)
    for block in range(320):  # 4 s: every voice crosses its loop end
        mix.fill(0.0)
        pool.render(mix, n, adsr)
        expect = np.zeros(n, np.float64)
        for j, (rate, g) in enumerate(zip(rates, gains, strict=True)):
            pos[j] = read_note(audio, loop, pos[j], rate, n, sig, s)
            expect += g * sig
        if block:
            np.testing.assert_allclose(mix, expect, atol=2e-5)
    assert pool.count() == 4


def test_a_voice_in_a_freed_slot_starts_at_the_note_start(bank):
    adsr = env.Adsr.from_seconds(0.001, 0.01, 1.0, 0.01, SR)
    pool = VoicePool(16, 512, SR)
    first, again = np.zeros(256, np.float32), np.zeros(256, np.float32)
    pool.note_on(50, 1.0, 0, bank)
    pool.note_on(60, 1.0, 0, bank)
    pool.render(first, 256, adsr)
    for _ in range(20):
        pool.render(np.zeros(256, np.float32), 256, adsr)
    pool.note_off(50, 0, adsr)
    pool.note_off(60, 0, adsr)
    while pool.count():
        pool.render(np.zeros(256, np.float32), 256, adsr)
    pool.note_on(60, 1.0, 0, bank)  # into slot 0, where key 50 played
    pool.note_on(50, 1.0, 0, bank)
    pool.render(again, 256, adsr)
    np.testing.assert_allclose(again, first, atol=1e-6)
