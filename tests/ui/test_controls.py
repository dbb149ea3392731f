"""Sound controls: sliders -> EngineSettings, the envelope drawing, saved values."""

from __future__ import annotations

import pytest

from engine.engine import EngineSettings
from ui.controls import SLIDERS, SoundControls, envelope_points


@pytest.mark.parametrize("spec", SLIDERS, ids=lambda s: s.field)
def test_slider_positions_map_back_to_values(spec):
    for value in (spec.lo, spec.hi, (spec.lo + spec.hi) / 2):
        assert spec.to_value(spec.to_pos(value)) == pytest.approx(value, rel=0.01)


def test_moving_a_slider_emits_new_engine_settings(qtbot):
    controls = SoundControls(EngineSettings())
    qtbot.addWidget(controls)
    with qtbot.waitSignal(controls.changed) as signal:
        controls.sliders["release"][1].setValue(1000)
    assert isinstance(signal.args[0], EngineSettings)
    assert signal.args[0].release == pytest.approx(8.0)
    with qtbot.waitSignal(controls.changed) as signal:
        controls.curve.setCurrentText("hard")
    assert signal.args[0].velocity_curve == "hard"
    with qtbot.waitSignal(controls.changed) as signal:
        controls.loop.setChecked(False)
    assert signal.args[0].loop is False and signal.args[0].release == pytest.approx(8.0)


def test_saved_values_come_back_and_bad_ones_are_ignored(qtbot):
    controls = SoundControls(EngineSettings())
    qtbot.addWidget(controls)
    controls.restore({"attack": 0.5, "sustain": 7.0, "nonsense": 1, "loop": False})
    s = controls.settings
    assert s.attack == 0.5 and s.loop is False and s.sustain == EngineSettings().sustain
    assert controls.to_json()["attack"] == 0.5


def test_the_envelope_drawing_follows_the_settings():
    pts = envelope_points(
        EngineSettings(attack=0.1, decay=0.2, sustain=0.5, release=1.0)
    )
    assert pts == [(0, 0), (0.1, 1), (pytest.approx(0.3), 0.5), (0.6, 0.5), (1.6, 0)]
