"""The host: note bank, renderer thread, voices, audio out, MIDI in, offline render,
export.

Never imports torch: the instrument is injected (DESIGN.md).
"""
