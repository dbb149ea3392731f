"""TensorBoard summaries: scalars, audio and rainbowgrams end up in the event file."""

from __future__ import annotations

import numpy as np
import torch

from instrument.config import get_config
from instrument.spectral import waves_to_images
from trainer.summaries import Summaries, rainbowgram


def _note(spectral, freq: float = 220.0) -> torch.Tensor:
    t = np.arange(spectral.audio_length) / spectral.sample_rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-t)
    return waves_to_images(torch.from_numpy(wave[None].astype(np.float32)), spectral)


def test_rainbowgram_is_an_rgb_picture_with_low_notes_at_the_bottom():
    spectral = get_config("quarter_2s").spectral
    image = _note(spectral)[0].numpy()
    rgb = rainbowgram(image, spectral)
    assert (
        rgb.shape == (3, spectral.n_bins, spectral.n_frames) and rgb.dtype == np.float32
    )
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    brightness = rgb.sum(axis=(0, 2))
    assert (
        brightness[-len(brightness) // 4 :].mean()
        > brightness[: len(brightness) // 4].mean()
    )


def test_audio_and_images_are_written(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spectral = get_config("quarter_2s").spectral
    s = Summaries(tmp_path)
    s.scalars({"train/loss_d": 1.5}, 8)
    s.notes(_note(spectral).repeat(2, 1, 1, 1), [45, 57], spectral, 8)
    s.close()
    acc = EventAccumulator(
        str(tmp_path / "tb"), size_guidance={"audio": 0, "images": 0}
    )
    acc.Reload()
    tags = acc.Tags()
    assert "train/loss_d" in tags["scalars"]
    assert set(tags["audio"]) == {"notes/pitch_45", "notes/pitch_57"}
    assert set(tags["images"]) == {"rainbowgram/pitch_45", "rainbowgram/pitch_57"}
    assert acc.Audio("notes/pitch_45")[0].sample_rate == 16000
