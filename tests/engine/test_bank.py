"""Note bank: prepared notes (guard, loop with baked crossfade), immutable banks."""

import numpy as np
import pytest

from engine.bank import GUARD, LoopPoints, NoteBank, find_loop, prepare_note

SR = 16000


@pytest.fixture(scope="module")
def violin(sf_renderer):
    return sf_renderer.render_note(40, 60)  # 4 s, held 3 s


def test_prepared_note_has_guard_and_is_read_only(violin):
    audio, loop = prepare_note(violin, SR)
    assert audio.dtype == np.float32 and len(audio) == len(violin) + GUARD
    assert not audio[-GUARD:].any()
    assert not audio.flags.writeable
    assert loop is not None


def test_loop_lies_in_the_steady_part_and_its_seam_is_smooth(violin):
    audio, loop = prepare_note(violin, SR, crossfade_ms=20.0)
    held_end = 3 * SR  # the renderer holds the key for 3 s
    assert 0.15 * held_end < loop.start < 0.35 * held_end
    assert 0.6 * held_end < loop.end < 0.85 * held_end
    assert loop.crossfade == int(0.02 * SR)
    # playing across the jump: ... audio[end-1], audio[start], ... continues smoothly
    seam = np.concatenate(
        [audio[loop.end - 64 : loop.end], audio[loop.start : loop.start + 64]]
    )
    steps = np.abs(np.diff(seam))
    typical = np.abs(np.diff(audio[loop.start : loop.end])).max()
    assert steps.max() <= typical


def test_a_decaying_note_gets_a_long_crossfade(sf_renderer):
    piano = sf_renderer.render_note(0, 60)
    audio, loop = prepare_note(piano, SR)
    assert loop.crossfade == min(loop.length // 4, loop.start) > int(0.02 * SR)
    seam = np.concatenate(
        [audio[loop.end - 64 : loop.end], audio[loop.start : loop.start + 64]]
    )
    steps = np.abs(np.diff(seam))
    assert steps.max() <= np.abs(np.diff(audio[loop.start : loop.end])).max()


def test_silence_and_short_notes_have_no_loop(sf_renderer):
    assert find_loop(np.zeros(SR, np.float32), SR) is None
    assert find_loop(np.ones(40, np.float32), SR) is None
    hit = sf_renderer.render_note(115, 60)  # woodblock: dies away at once
    assert find_loop(hit, SR) is None
    audio, loop = prepare_note(np.zeros(SR, np.float32), SR)
    assert loop is None and len(audio) == SR + GUARD


def test_non_finite_samples_are_scrubbed(violin):
    bad = violin.copy()
    bad[100:200] = np.nan
    bad[300] = np.inf
    audio, _ = prepare_note(bad, SR)
    assert np.isfinite(audio).all()
    assert not audio[100:200].any()


def test_prepare_refuses_non_1d():
    with pytest.raises(ValueError, match="1-D"):
        prepare_note(np.zeros((2, 10), np.float32), SR)


@pytest.mark.parametrize(
    "start,end,xf", [(0, 100, 10), (50, 40, 10), (20, 30, 20), (10, 500, 0)]
)
def test_bad_loop_points_are_refused(start, end, xf):
    with pytest.raises(ValueError):
        LoopPoints(start, end, xf)


def test_bank_versions_and_partial_rendering(violin):
    bank = NoteBank.empty((24, 84), SR)
    assert bank.pitch_max == 84 and bank.pitches_ready == 0 and bank.note(60) is None
    note = prepare_note(violin, SR)
    b1 = bank.with_timbre(1, np.zeros(8, np.float32)).with_notes([60], [note])
    assert b1.note(60) is note[0] and b1.loop(60) is note[1]
    assert b1.pitches_ready == 1 and not b1.complete
    # a newer timbre keeps the older notes until its own are rendered
    b2 = b1.with_timbre(2, np.ones(8, np.float32))
    assert b2.note(60) is note[0] and b2.pitches_ready == 0
    assert b2.note_versions[60 - 24] == 1
    full = b2.with_notes(list(range(24, 85)), [note] * 61)
    assert full.complete and bank.pitches_ready == 0  # the older banks are unchanged


def test_a_loud_render_is_scaled_to_the_note_peak_and_a_quiet_one_kept():
    from engine.bank import NOTE_PEAK, prepare_note

    sr = 16000
    t = np.arange(sr, dtype=np.float32) / sr
    tone = np.sin(2 * np.pi * 220.0 * t).astype(np.float32)
    loud, _ = prepare_note(120.0 * tone, sr)
    assert np.isclose(np.abs(loud).max(), NOTE_PEAK, rtol=1e-5)
    head = sr // 10  # before any loop crossfade
    assert np.allclose(
        loud[:head] * (120.0 / NOTE_PEAK), 120.0 * tone[:head], atol=1e-3
    )
    quiet, _ = prepare_note(0.1 * tone, sr)
    assert np.allclose(quiet[:head], 0.1 * tone[:head])
