"""engine.commands via main.py: devices, play, render, export-sfz; errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

import main

ROOT = Path(__file__).resolve().parents[2]
NO_SERVER = {"JACK_DEFAULT_SERVER": "no-such-server-h2b", "JACK_NO_START_SERVER": "1"}


def _main_in_subprocess(argv: list[str], env_extra: dict[str, str]):
    """Run ``main.main(argv)``; print the exit code and whether torch got imported."""
    code = (
        "import sys, main\n"
        f"rc = main.main({argv!r})\n"
        "print('RC', rc, 'TORCH', 'torch' in sys.modules)\n"
    )
    env = dict(os.environ, **env_extra)
    env.pop("MIDO_BACKEND", None)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _write_midi(path: Path, notes=((60, 0, 240), (64, 240, 480))) -> Path:
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    events = []
    for key, start, end in notes:
        events += [(start, "note_on", key), (end, "note_off", key)]
    now = 0
    for tick, kind, key in sorted(events):
        track.append(mido.Message(kind, note=key, velocity=90, time=tick - now))
        now = tick
    mid.save(path)
    return path


def test_devices_without_any_server():
    out = _main_in_subprocess(["devices"], NO_SERVER)
    assert "RC 0 TORCH False" in out.stdout, out.stderr
    assert "none (no sound card or audio server is running)" in out.stdout
    assert "MIDI inputs: none (no JACK server is running" in out.stdout


def test_play_without_a_device_is_one_sentence(soundfont_path):
    argv = ["--model", str(soundfont_path), "play", "--headless", "--duration", "1"]
    out = _main_in_subprocess(argv, NO_SERVER)
    assert "RC 2 TORCH False" in out.stdout, out.stderr
    assert _errors(out.stderr) == [
        "error: no audio output device found (no sound card or audio server is "
        "running); offline commands such as 'render' still work"
    ]
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--channel", "17"], "--channel must be 1-16, got 17"),
        (["--duration", "0"], "--duration must be positive, got 0.0"),
        (["--latency", "soon"], "latency must be 'low', 'high' or seconds"),
    ],
)
def test_play_refuses_bad_arguments(soundfont_path, capsys, extra, message):
    argv = ["--model", str(soundfont_path), "play", "--headless"] + extra
    assert main.main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.audio
def test_devices_lists_jack_and_midi(jack_server, capsys):
    assert main.main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "system  [JACK Audio Connection Kit" in out
    assert "MIDI inputs (jack):" in out


@pytest.mark.audio
def test_play_goes_on_without_its_midi_port(jack_server, soundfont_path, capsys):
    _, period = jack_server
    argv = ["--model", str(soundfont_path), "play", "--headless", "--duration", "0.5"]
    argv += ["--midi-port", "nope-h2b", "--blocksize", str(period)]
    assert main.main(argv) == 0
    err = capsys.readouterr().err
    assert "warning: no MIDI input port name contains 'nope-h2b'" in err
    assert "playing on without MIDI input" in err
    assert "played:" in err


def test_render_writes_a_wav(soundfont_path, tmp_path):
    mid = _write_midi(tmp_path / "in.mid")
    wav = tmp_path / "out.wav"
    argv = ["--model", str(soundfont_path), "render", str(mid), "-o", str(wav)]
    assert main.main(argv + ["--seed", "1", "--sample-rate", "16000"]) == 0
    audio, rate = sf.read(wav, dtype="float32")
    assert rate == 16000 and audio.ndim == 2
    assert np.abs(audio).max() > 0.01


def test_render_of_a_malformed_file_is_one_sentence(soundfont_path, tmp_path, capsys):
    mid = tmp_path / "broken.mid"
    mid.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01garbage")
    wav = tmp_path / "out.wav"
    argv = ["--model", str(soundfont_path), "render", str(mid), "-o", str(wav)]
    assert main.main(argv + ["--sample-rate", "16000"]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "broken.mid is not a readable MIDI file" in errors[0]
    assert list(tmp_path.iterdir()) == [mid]  # no output, no temporary file left


def test_export_sfz_writes_an_instrument(soundfont_path, tmp_path):
    out = tmp_path / "sfz"
    argv = ["--model", str(soundfont_path), "export-sfz", str(out)]
    assert main.main(argv + ["--seed", "2", "--sample-rate", "16000"]) == 0
    sfz = next(out.glob("*.sfz"))
    text = sfz.read_text()
    folder = (
        out / text.split("default_path=")[1].split()[0]
        if "default_path=" in text
        else out
    )
    samples = [
        line.split("sample=")[1].split()[0]
        for line in text.splitlines()
        if "sample=" in line
    ]
    assert len(samples) == 61
    assert all((folder / s).is_file() for s in samples)


def test_preset_of_another_model_is_refused(soundfont_path, tmp_path, capsys):
    from engine.presets import Preset

    corners = np.random.default_rng(0).standard_normal((4, 256)).astype(np.float32)
    preset = Preset.create("foreign", "some-other-model", corners)
    path = tmp_path / "foreign.json"
    import json

    path.write_text(json.dumps(preset.to_dict()))
    mid = _write_midi(tmp_path / "in.mid")
    wav = tmp_path / "out.wav"
    argv = ["--model", str(soundfont_path), "render", str(mid), "-o", str(wav)]
    assert main.main(argv + ["--preset", str(path), "--sample-rate", "16000"]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "some-other-model" in errors[0]
    assert not wav.exists()


def test_timbre_without_preset_or_seed_is_the_factory_default(tmp_path, monkeypatch):
    import argparse

    import engine.presets
    from engine.commands import _timbre
    from engine.engine import EngineSettings
    from engine.presets import DEFAULT_PRESET, Preset, save_preset
    from instrument.latent import random_latents

    class Model:  # what _timbre reads of an instrument
        model_id, latent_size = "model-xyz", 8

    monkeypatch.setattr(engine.presets, "FACTORY_DIR", tmp_path)
    monkeypatch.setenv("GANSYNTH_PRESET_DIR", str(tmp_path / "user"))
    corners = random_latents(4, 8, 5)
    settings = EngineSettings(release=1.25)
    save_preset(
        Preset.create(DEFAULT_PRESET, "model-xyz", corners, (1.0, 0.0), settings),
        tmp_path,
    )
    latent, got = _timbre(argparse.Namespace(preset=None, seed=None), Model())
    np.testing.assert_allclose(latent, corners[1], rtol=1e-6)  # top-right corner
    assert got == settings
    latent, got = _timbre(argparse.Namespace(preset=None, seed=3), Model())
    np.testing.assert_array_equal(latent, random_latents(1, 8, 3)[0])
    assert got is None
    Model.model_id = "another"
    latent, got = _timbre(argparse.Namespace(preset=None, seed=None), Model())
    np.testing.assert_array_equal(latent, random_latents(1, 8, 0)[0])
