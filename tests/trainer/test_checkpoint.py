"""Checkpoints: atomic, verified, and a damaged one is refused while the previous is
kept.
"""

from __future__ import annotations

import pytest
import torch

from trainer.checkpoint import (
    CheckpointError,
    CheckpointManager,
    load_checkpoint,
    save_checkpoint,
)


def _state(value: float) -> dict:
    return {
        "w": torch.full((3, 4), value),
        "nested": {"step": 3, "betas": (0.0, 0.99), "name": "x", "none": None},
        "rng": torch.Generator().manual_seed(5).get_state(),
    }


def test_round_trip(tmp_path):
    path = tmp_path / "a.pt"
    save_checkpoint(path, _state(1.5))
    back = load_checkpoint(path)
    assert torch.equal(back["w"], torch.full((3, 4), 1.5))
    assert back["nested"] == {
        "step": 3,
        "betas": (0.0, 0.99),
        "name": "x",
        "none": None,
    }
    assert torch.equal(back["rng"], _state(0)["rng"])
    assert not (tmp_path / "a.pt.tmp").exists()


def _damage(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[: len(data) // 2]
    elif how == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = bytearray(b"RIFF....WAVEfmt " + bytes(100))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncate", "flip", "foreign"])
def test_damaged_file_is_refused_in_one_sentence(tmp_path, how):
    path = tmp_path / "a.pt"
    save_checkpoint(path, _state(1.0))
    _damage(path, how)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_latest_falls_back_to_previous_and_is_kept(tmp_path):
    lines: list[str] = []
    m = CheckpointManager(tmp_path, log=lines.append)
    assert m.load_resume() is None
    m.save_latest(_state(1.0))
    m.save_latest(_state(2.0))
    assert float(load_checkpoint(m.previous)["w"][0, 0]) == 1.0
    _damage(m.latest, "flip")
    corrupt = m.latest.read_bytes()

    m2 = CheckpointManager(tmp_path, log=lines.append)
    state = m2.load_resume()
    assert float(state["w"][0, 0]) == 1.0
    assert len(lines) == 1 and "corrupt" in lines[0]
    assert m2.latest.read_bytes() == corrupt  # nothing deleted
    # the next save replaces the damaged latest and keeps the good previous
    m2.save_latest(_state(3.0))
    assert float(load_checkpoint(m2.previous)["w"][0, 0]) == 1.0
    assert float(load_checkpoint(m2.latest)["w"][0, 0]) == 3.0


def test_no_usable_checkpoint_is_an_error(tmp_path):
    m = CheckpointManager(tmp_path, log=lambda _m: None)
    m.save_latest(_state(1.0))
    _damage(m.latest, "truncate")
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        CheckpointManager(tmp_path, log=lambda _m: None).load_resume()


def test_best_and_kept_copies(tmp_path):
    m = CheckpointManager(tmp_path)
    m.save_best(_state(4.0))
    m.save_kept(_state(5.0), 1_000_000)
    assert float(m.load("best")["w"][0, 0]) == 4.0
    assert float(load_checkpoint(tmp_path / "ckpt-0001000000.pt")["w"][0, 0]) == 5.0
