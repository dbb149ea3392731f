"""The controller table and MIDI learn."""

from __future__ import annotations

import pytest

from ui.midi_learn import DEFAULT_CC_MAP, CCMap


def test_the_mod_wheel_drives_x_by_default():
    m = CCMap()
    assert m.mapping == DEFAULT_CC_MAP
    a = m.handle(1, 127)
    assert (a.target, a.value, a.learned) == ("pad_x", 1.0, False)
    assert m.handle(2, 0).target == "pad_y"
    assert m.handle(7, 64) is None  # volume drives nothing on the pad


def test_learning_binds_the_next_controller_and_frees_the_old_one():
    m = CCMap()
    m.learn("pad_x")
    a = m.handle(74, 32)
    assert a.learned and a.target == "pad_x" and a.value == pytest.approx(32 / 127)
    assert m.learning is None
    assert m.controller_for("pad_x") == 74
    assert m.handle(1, 100) is None  # the mod wheel no longer moves X


def test_the_sustain_pedal_is_never_learned():
    m = CCMap()
    m.learn("pad_y")
    assert m.handle(64, 127) is None  # pedal: still waiting
    assert m.learning == "pad_y"
    assert m.handle(20, 5).learned


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda m: m.learn("volume"), "pad axis|learn target"),
        (lambda m: m.bind(200, "pad_x"), "0-127"),
        (lambda m: m.bind(64, "pad_x"), "reserved"),
    ],
)
def test_bad_bindings_are_refused_in_one_sentence(call, words):
    with pytest.raises(ValueError, match=words):
        call(CCMap())


@pytest.mark.parametrize("saved", [{"21": "pad_x", "22": "pad_y"}, {}, "junk", None])
def test_saved_maps_come_back_or_fall_back_to_the_defaults(saved):
    m = CCMap.from_json(saved)
    if saved == {"21": "pad_x", "22": "pad_y"}:
        assert m.mapping == {21: "pad_x", 22: "pad_y"}
        assert CCMap.from_json(m.to_json()).mapping == m.mapping
    else:
        assert m.mapping == DEFAULT_CC_MAP
