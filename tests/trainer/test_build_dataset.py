"""build-dataset: SoundFont rendering to NSynth format, WAV folders, the GM table."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile

from trainer import build_dataset, gm
from trainer.dataset import NSYNTH_KEYS, list_examples, load_audio


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    build_dataset.configure(parser)
    return build_dataset.run(parser.parse_args(list(argv)))


def test_gm_table_follows_nsynth():
    assert len(gm.GM_PROGRAMS) == 128
    programs = gm.default_programs()
    assert all(gm.family_and_source(p)[1] == "acoustic" for p in programs)
    assert {0, 8, 24, 32, 40, 48, 56, 64, 72} <= set(programs)  # every group
    assert not set(range(16, 24)) & set(programs)  # organs are not a default group
    assert 4 not in programs and 26 not in programs  # electric piano, electric guitar
    assert gm.family_and_source(38) == ("bass", "synthetic")
    assert gm.family_and_source(19) == ("organ", "acoustic")
    assert gm.family_and_source(16) == ("organ", "electronic")
    assert gm.instrument_str(73) == "flute_acoustic_073"
    with pytest.raises(ValueError, match="0-127"):
        gm.family_and_source(128)


@pytest.mark.parametrize(
    "name, pitch, velocity",
    [
        ("C4.wav", 60, None),
        ("piano_F#3_take2.wav", 54, None),
        ("Bb2 soft.flac", 46, None),
        ("cello-H4.wav", None, None),  # not a note name
        ("harp_Cs4.wav", 61, None),  # s = sharp, as sample libraries write it
        ("guitar_acoustic_024-067-080.wav", 67, 80),
        ("note 060.wav", 60, None),
        ("loop_140bpm.wav", None, None),
        ("untitled.wav", None, None),
    ],
)
def test_pitch_from_name(name, pitch, velocity):
    assert build_dataset.pitch_from_name(name) == (pitch, velocity)


def test_parse_int_list():
    assert build_dataset.parse_int_list("24-26,30", 0, 127, "p") == [24, 25, 26, 30]
    with pytest.raises(ValueError, match="must be in 0-127"):
        build_dataset.parse_int_list("100-130", 0, 127, "--pitches")
    with pytest.raises(ValueError, match="must look like"):
        build_dataset.parse_int_list("a,b", 0, 127, "--pitches")


def test_soundfont_set_is_nsynth_format(tmp_path, soundfont_path, capsys):
    out = tmp_path / "set"
    argv = ["--soundfont", str(soundfont_path), "--out", str(out)]
    argv += ["--programs", "0,40", "--pitches", "59-60", "--velocities", "25,127"]
    assert _run(*argv, "--seconds", "2", "--hold", "1.5", "--workers", "2") == 0
    assert "wrote 8 notes" in capsys.readouterr().out
    table = json.loads((out / "examples.json").read_text())
    assert sorted(table) == [
        f"{inst}-{p:03d}-{v:03d}"
        for inst in ("keyboard_acoustic_000", "string_acoustic_040")
        for p in (59, 60)
        for v in (25, 127)
    ]
    meta = table["string_acoustic_040-060-127"]
    assert tuple(meta) == NSYNTH_KEYS
    assert meta["instrument_family_str"] == "string" and meta["instrument_family"] == 8
    assert meta["instrument_source"] == 0 and meta["pitch"] == 60
    assert sorted(m["note"] for m in table.values()) == list(range(8))
    refs = {r.note_str: r for r in list_examples(out)}
    loud = load_audio(refs["keyboard_acoustic_000-060-127"])
    soft = load_audio(refs["keyboard_acoustic_000-060-025"])
    assert loud.shape == (32000,)
    assert 0.05 < np.abs(loud).max() < 0.9  # well below full scale
    assert np.abs(soft).max() < 0.5 * np.abs(loud).max()  # velocity kept
    assert loud[24000:].std() < loud[:24000].std()  # released after 1.5 s
    info = json.loads((out / "build_info.json").read_text())
    assert info["notes"] == 8 and info["gain"] > 0


def test_silent_and_clipped_notes_are_skipped(tmp_path, soundfont_path, capsys):
    # FluidR3's baritone sax has no sample for MIDI 84: it renders silence
    out = tmp_path / "set"
    argv = ["--soundfont", str(soundfont_path), "--out", str(out), "--seconds", "1"]
    argv += ["--hold", "0.5", "--workers", "1", "--velocities", "127"]
    assert _run(*argv, "--programs", "67", "--pitches", "60,84") == 0
    captured = capsys.readouterr()
    assert "skipped reed_acoustic_067-084-127: silent" in captured.err
    assert "wrote 1 notes" in captured.out and "1 silent" in captured.out
    assert _run(*argv, "--programs", "0", "--pitches", "60", "--gain-db", "30") == 1
    captured = capsys.readouterr()
    assert "skipped keyboard_acoustic_000-060-127: clipped" in captured.err
    assert json.loads((out / "examples.json").read_text()) == {}


def test_wav_dir(tmp_path, sf_renderer, capsys):
    src = tmp_path / "wavs"
    (src / "violin").mkdir(parents=True)
    t = np.arange(44100 * 5) / 44100
    tone = 0.4 * np.sin(2 * np.pi * 261.63 * t)
    soundfile.write(str(src / "C4.wav"), np.stack([tone, tone], 1), 44100)
    note = sf_renderer.render_note(40, 57, 100)
    soundfile.write(str(src / "violin" / "untitled.wav"), note, 16000)  # estimated
    soundfile.write(str(src / "violin" / "vln-067-080.wav"), note[:8000], 16000)
    (src / "broken.wav").write_bytes(b"not audio at all")
    soundfile.write(str(src / "quiet.wav"), np.zeros(1000), 16000)
    out = tmp_path / "set"
    argv = ["--wav-dir", str(src), "--out", str(out), "--family", "string"]
    assert _run(*argv, "--seconds", "4") == 0
    captured = capsys.readouterr()
    assert "broken.wav: unreadable" in captured.err
    assert "quiet.wav: silent" in captured.err
    assert "skipped 2 notes" in captured.out
    table = json.loads((out / "examples.json").read_text())
    assert sorted(table) == [
        "string_acoustic_000-060-100",
        "string_acoustic_001-057-100",  # pitch by torchcrepe
        "string_acoustic_001-067-080",
    ]
    refs = {r.note_str: r for r in list_examples(out)}
    c4 = load_audio(refs["string_acoustic_000-060-100"])
    assert c4.shape == (64000,)  # resampled 44.1 -> 16 kHz, cut to 4 s
    spectrum = np.abs(np.fft.rfft(c4))
    assert abs(np.argmax(spectrum) * 16000 / 64000 - 261.63) < 1.0
    short = load_audio(refs["string_acoustic_001-067-080"])
    assert short.shape == (64000,) and not short[8000:].any()  # padded at the end


def test_missing_inputs_are_one_sentence(tmp_path):
    with pytest.raises(FileNotFoundError, match="SoundFont not found"):
        _run("--soundfont", str(tmp_path / "x.sf2"), "--out", str(tmp_path / "o"))
    with pytest.raises(FileNotFoundError, match="holds no audio files"):
        _run("--wav-dir", str(tmp_path), "--out", str(tmp_path / "o"))


def test_check_pitch_drops_notes_that_sound_another_pitch(tmp_path, soundfont_path):
    # FluidR3's glockenspiel sounds about 29 semitones high at MIDI 36, right at 62
    out = tmp_path / "set"
    argv = ["--soundfont", str(soundfont_path), "--out", str(out), "--programs", "9"]
    argv += ["--pitches", "36,62", "--velocities", "100", "--check-pitch"]
    assert _run(*argv, "--seconds", "2", "--hold", "1.5", "--workers", "1") == 0
    table = json.loads((out / "examples.json").read_text())
    assert sorted(table) == ["mallet_acoustic_009-062-100"]
    assert not (out / "audio" / "mallet_acoustic_009-036-100.wav").exists()
    info = json.loads((out / "build_info.json").read_text())
    assert info["skipped"] == {"mislabeled": 1}


def test_python_m_trainer_entry_point(tmp_path, soundfont_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "set"
    cmd = [sys.executable, "-m", "trainer", "build-dataset", "--soundfont"]
    cmd += [str(soundfont_path), "--out", str(out), "--programs", "0"]
    cmd += ["--pitches", "60", "--velocities", "100", "--seconds", "1", "--hold", "0.5"]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "wrote 1 notes" in done.stdout
    bad = [sys.executable, "-m", "trainer", "build-dataset", "--out", str(out)]
    bad += ["--soundfont", str(tmp_path / "missing.sf2")]
    done = subprocess.run(bad, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: SoundFont not found: {tmp_path / 'missing.sf2'}"
    ]


def test_wav_dir_ignores_its_own_output_inside_it(tmp_path):
    t = np.arange(16000) / 16000
    for name, hz in (("A3.wav", 220.0), ("A4.wav", 440.0)):
        soundfile.write(str(tmp_path / name), 0.3 * np.sin(2 * np.pi * hz * t), 16000)
    out = tmp_path / "built"
    for _ in range(2):  # the second run must not read the first run's notes
        assert (
            _run("--wav-dir", str(tmp_path), "--out", str(out), "--seconds", "1") == 0
        )
        table = json.loads((out / "examples.json").read_text())
        assert sorted(m["pitch"] for m in table.values()) == [57, 69]
