"""MIDI controller assignments for the pad axes, and MIDI learn.

A table maps a controller number to a pad axis. The mod wheel (CC 1) moves the pad's X
axis and the breath controller (CC 2) its Y axis until the user binds other controllers:
press "learn" for an axis, move any knob, and that controller drives the axis from then
on. Used from the Qt main thread only (the window drains the CCs that MIDI delivered).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PAD_AXES", "DEFAULT_CC_MAP", "CCMap", "CCAction"]

PAD_AXES = ("pad_x", "pad_y")  # the targets a controller can drive
DEFAULT_CC_MAP = {1: "pad_x", 2: "pad_y"}  # mod wheel -> X, breath -> Y
_RESERVED = {
    64,
    120,
    121,
    123,
}  # sustain pedal and channel-mode messages stay the engine's


@dataclass(frozen=True, slots=True)
class CCAction:
    """What one incoming controller message did."""

    target: str  # one of PAD_AXES
    value: float  # 0..1 (controller value / 127)
    learned: bool  # True when this message bound the controller (MIDI learn)


@dataclass
class CCMap:
    """Controller number -> pad axis, and the axis waiting to learn (if any)."""

    mapping: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_CC_MAP))
    learning: str | None = None  # the axis that the next controller message binds

    def __post_init__(self) -> None:
        for cc, target in self.mapping.items():
            _check(cc, target)

    def learn(self, target: str | None) -> None:
        """Wait for the next controller message to bind ``target`` (None cancels)."""
        if target is not None and target not in PAD_AXES:
            raise ValueError(
                f"MIDI learn target must be one of {PAD_AXES}, got {target!r}"
            )
        self.learning = target

    def bind(self, control: int, target: str) -> None:
        """Make ``control`` drive ``target`` (its previous controller is released)."""
        _check(control, target)
        self.mapping = {
            c: t for c, t in self.mapping.items() if t != target and c != control
        }
        self.mapping[control] = target

    def controller_for(self, target: str) -> int | None:
        """The controller bound to ``target``, or None."""
        return next((c for c, t in self.mapping.items() if t == target), None)

    def handle(self, control: int, value: int) -> CCAction | None:
        """Apply one controller message; None when no pad axis listens to it."""
        learned = False
        if self.learning is not None and control not in _RESERVED:
            self.bind(control, self.learning)
            self.learning, learned = None, True
        target = self.mapping.get(control)
        if target is None:
            return None
        return CCAction(target, min(max(value, 0), 127) / 127.0, learned)

    def to_json(self) -> dict[str, str]:
        return {str(c): t for c, t in sorted(self.mapping.items())}

    @classmethod
    def from_json(cls, data: object) -> CCMap:
        """A map from saved settings; anything malformed gives the defaults back."""
        try:
            mapping = {int(c): str(t) for c, t in dict(data).items()}  # type: ignore
            return cls(mapping) if mapping else cls()
        except (TypeError, ValueError):
            return cls()


def _check(control: int, target: str) -> None:
    if not 0 <= int(control) <= 127:
        raise ValueError(f"MIDI controller number must be 0-127, got {control}")
    if control in _RESERVED:
        raise ValueError(
            f"controller {control} is reserved (sustain pedal or channel mode)"
        )
    if target not in PAD_AXES:
        raise ValueError(f"pad axis must be one of {PAD_AXES}, got {target!r}")
