"""General MIDI programs mapped to NSynth instrument families and sources.

NSynth (Engel et al. 2017) labels every instrument with a *family* (what it is) and a
*source* (how its sound was made): ``acoustic`` (recorded from an acoustic instrument),
``electronic`` (recorded from an electric or electronic instrument: pickups, tone
wheels, electric pianos) and ``synthetic`` (synthesised). One table, ``GM_PROGRAMS``,
holds all 128 GM programs (0-based) as ``(name, family, source)``.

Decisions where GM and NSynth do not line up (NSynth has no pad, percussion or effects
family; its organs are mostly electronic, which is why GANSynth's early ``source == 1``
filter bug gave "only organ and bell sounds", magenta#1607):

- electric, tone-wheel and rock organs are ``organ/electronic``; church (pipe) organ and
  reed organ are ``organ/acoustic``; accordions and harmonica are free reeds:
  ``reed/acoustic``;
- electric pianos, electric grand and clavinet are ``keyboard/electronic``;
- chromatic percussion, timpani and tuned percussion are ``mallet/acoustic``;
- orchestral harp and the plucked ethnic instruments (sitar, banjo, shamisen, koto) are
  ``string``/``guitar`` as their playing suggests; choirs are ``vocal/acoustic``;
- synth leads, pads, effects and the sound effects group have no NSynth family: they are
  ``synth_lead/synthetic`` (so GANSynth's acoustic filter drops them), except the
  synth voice/choir pads (``vocal/synthetic``), synth basses (``bass/synthetic``),
  synth strings (``string/synthetic``) and synth brass (``brass/synthetic``).
"""

from __future__ import annotations

__all__ = [
    "FAMILIES",
    "SOURCES",
    "QUALITIES",
    "GM_PROGRAMS",
    "GM_GROUPS",
    "DEFAULT_GROUPS",
    "family_and_source",
    "default_programs",
    "instrument_str",
]

# NSynth enumerations (tensorflow_datasets nsynth.py), index = the integer label.
FAMILIES = (
    "bass",
    "brass",
    "flute",
    "guitar",
    "keyboard",
    "mallet",
    "organ",
    "reed",
    "string",
    "synth_lead",
    "vocal",
)
SOURCES = ("acoustic", "electronic", "synthetic")
QUALITIES = (
    "bright",
    "dark",
    "distortion",
    "fast_decay",
    "long_release",
    "multiphonic",
    "nonlinear_env",
    "percussive",
    "reverb",
    "tempo-synced",
)

_A, _E, _S = "acoustic", "electronic", "synthetic"

# program (0-based) -> (GM name, NSynth family, NSynth source)
GM_PROGRAMS: tuple[tuple[str, str, str], ...] = (
    # 0-7 piano
    ("Acoustic Grand Piano", "keyboard", _A),
    ("Bright Acoustic Piano", "keyboard", _A),
    ("Electric Grand Piano", "keyboard", _E),
    ("Honky-tonk Piano", "keyboard", _A),
    ("Electric Piano 1", "keyboard", _E),
    ("Electric Piano 2", "keyboard", _E),
    ("Harpsichord", "keyboard", _A),
    ("Clavinet", "keyboard", _E),
    # 8-15 chromatic percussion
    ("Celesta", "mallet", _A),
    ("Glockenspiel", "mallet", _A),
    ("Music Box", "mallet", _A),
    ("Vibraphone", "mallet", _A),
    ("Marimba", "mallet", _A),
    ("Xylophone", "mallet", _A),
    ("Tubular Bells", "mallet", _A),
    ("Dulcimer", "mallet", _A),
    # 16-23 organ
    ("Drawbar Organ", "organ", _E),
    ("Percussive Organ", "organ", _E),
    ("Rock Organ", "organ", _E),
    ("Church Organ", "organ", _A),
    ("Reed Organ", "organ", _A),
    ("Accordion", "reed", _A),
    ("Harmonica", "reed", _A),
    ("Tango Accordion", "reed", _A),
    # 24-31 guitar
    ("Acoustic Guitar (nylon)", "guitar", _A),
    ("Acoustic Guitar (steel)", "guitar", _A),
    ("Electric Guitar (jazz)", "guitar", _E),
    ("Electric Guitar (clean)", "guitar", _E),
    ("Electric Guitar (muted)", "guitar", _E),
    ("Overdriven Guitar", "guitar", _E),
    ("Distortion Guitar", "guitar", _E),
    ("Guitar Harmonics", "guitar", _E),
    # 32-39 bass
    ("Acoustic Bass", "bass", _A),
    ("Electric Bass (finger)", "bass", _E),
    ("Electric Bass (pick)", "bass", _E),
    ("Fretless Bass", "bass", _E),
    ("Slap Bass 1", "bass", _E),
    ("Slap Bass 2", "bass", _E),
    ("Synth Bass 1", "bass", _S),
    ("Synth Bass 2", "bass", _S),
    # 40-47 strings
    ("Violin", "string", _A),
    ("Viola", "string", _A),
    ("Cello", "string", _A),
    ("Contrabass", "string", _A),
    ("Tremolo Strings", "string", _A),
    ("Pizzicato Strings", "string", _A),
    ("Orchestral Harp", "string", _A),
    ("Timpani", "mallet", _A),
    # 48-55 ensemble
    ("String Ensemble 1", "string", _A),
    ("String Ensemble 2", "string", _A),
    ("Synth Strings 1", "string", _S),
    ("Synth Strings 2", "string", _S),
    ("Choir Aahs", "vocal", _A),
    ("Voice Oohs", "vocal", _A),
    ("Synth Voice", "vocal", _S),
    ("Orchestra Hit", "brass", _S),
    # 56-63 brass
    ("Trumpet", "brass", _A),
    ("Trombone", "brass", _A),
    ("Tuba", "brass", _A),
    ("Muted Trumpet", "brass", _A),
    ("French Horn", "brass", _A),
    ("Brass Section", "brass", _A),
    ("Synth Brass 1", "brass", _S),
    ("Synth Brass 2", "brass", _S),
    # 64-71 reed
    ("Soprano Sax", "reed", _A),
    ("Alto Sax", "reed", _A),
    ("Tenor Sax", "reed", _A),
    ("Baritone Sax", "reed", _A),
    ("Oboe", "reed", _A),
    ("English Horn", "reed", _A),
    ("Bassoon", "reed", _A),
    ("Clarinet", "reed", _A),
    # 72-79 pipe
    ("Piccolo", "flute", _A),
    ("Flute", "flute", _A),
    ("Recorder", "flute", _A),
    ("Pan Flute", "flute", _A),
    ("Blown Bottle", "flute", _A),
    ("Shakuhachi", "flute", _A),
    ("Whistle", "flute", _A),
    ("Ocarina", "flute", _A),
    # 80-87 synth lead
    ("Lead 1 (square)", "synth_lead", _S),
    ("Lead 2 (sawtooth)", "synth_lead", _S),
    ("Lead 3 (calliope)", "synth_lead", _S),
    ("Lead 4 (chiff)", "synth_lead", _S),
    ("Lead 5 (charang)", "synth_lead", _S),
    ("Lead 6 (voice)", "vocal", _S),
    ("Lead 7 (fifths)", "synth_lead", _S),
    ("Lead 8 (bass + lead)", "synth_lead", _S),
    # 88-95 synth pad
    ("Pad 1 (new age)", "synth_lead", _S),
    ("Pad 2 (warm)", "synth_lead", _S),
    ("Pad 3 (polysynth)", "synth_lead", _S),
    ("Pad 4 (choir)", "vocal", _S),
    ("Pad 5 (bowed)", "synth_lead", _S),
    ("Pad 6 (metallic)", "synth_lead", _S),
    ("Pad 7 (halo)", "synth_lead", _S),
    ("Pad 8 (sweep)", "synth_lead", _S),
    # 96-103 synth effects
    ("FX 1 (rain)", "synth_lead", _S),
    ("FX 2 (soundtrack)", "synth_lead", _S),
    ("FX 3 (crystal)", "synth_lead", _S),
    ("FX 4 (atmosphere)", "synth_lead", _S),
    ("FX 5 (brightness)", "synth_lead", _S),
    ("FX 6 (goblins)", "synth_lead", _S),
    ("FX 7 (echoes)", "synth_lead", _S),
    ("FX 8 (sci-fi)", "synth_lead", _S),
    # 104-111 ethnic
    ("Sitar", "guitar", _A),
    ("Banjo", "guitar", _A),
    ("Shamisen", "guitar", _A),
    ("Koto", "guitar", _A),
    ("Kalimba", "mallet", _A),
    ("Bagpipe", "reed", _A),
    ("Fiddle", "string", _A),
    ("Shanai", "reed", _A),
    # 112-119 percussive
    ("Tinkle Bell", "mallet", _A),
    ("Agogo", "mallet", _A),
    ("Steel Drums", "mallet", _A),
    ("Woodblock", "mallet", _A),
    ("Taiko Drum", "mallet", _A),
    ("Melodic Tom", "mallet", _A),
    ("Synth Drum", "mallet", _S),
    ("Reverse Cymbal", "mallet", _S),
    # 120-127 sound effects
    ("Guitar Fret Noise", "guitar", _E),
    ("Breath Noise", "synth_lead", _S),
    ("Seashore", "synth_lead", _S),
    ("Bird Tweet", "synth_lead", _S),
    ("Telephone Ring", "synth_lead", _S),
    ("Helicopter", "synth_lead", _S),
    ("Applause", "synth_lead", _S),
    ("Gunshot", "synth_lead", _S),
)

# GM's groups of eight programs, by name -> first program.
GM_GROUPS: dict[str, int] = {
    "piano": 0,
    "chromatic_percussion": 8,
    "organ": 16,
    "guitar": 24,
    "bass": 32,
    "strings": 40,
    "ensemble": 48,
    "brass": 56,
    "reed": 64,
    "pipe": 72,
    "synth_lead": 80,
    "synth_pad": 88,
    "synth_effects": 96,
    "ethnic": 104,
    "percussive": 112,
    "sound_effects": 120,
}

# The groups whose acoustic programs make the default training set (issue 6).
DEFAULT_GROUPS = (
    "piano",
    "chromatic_percussion",
    "guitar",
    "bass",
    "strings",
    "ensemble",
    "brass",
    "reed",
    "pipe",
)

assert len(GM_PROGRAMS) == 128
assert all(f in FAMILIES and s in SOURCES for _, f, s in GM_PROGRAMS)


def family_and_source(program: int) -> tuple[str, str]:
    """NSynth (family, source) names of a 0-based GM program."""
    if not 0 <= program <= 127:
        raise ValueError(f"GM program must be 0-127, got {program}")
    _, family, source = GM_PROGRAMS[program]
    return family, source


def default_programs() -> list[int]:
    """The acoustic programs of ``DEFAULT_GROUPS``, ascending."""
    programs = []
    for group in DEFAULT_GROUPS:
        first = GM_GROUPS[group]
        programs += [p for p in range(first, first + 8) if GM_PROGRAMS[p][2] == _A]
    return sorted(programs)


def instrument_str(program: int) -> str:
    """NSynth-style name ``<family>_<source>_<NNN>``, NNN = the GM program."""
    family, source = family_and_source(program)
    return f"{family}_{source}_{program:03d}"
