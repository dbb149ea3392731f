"""An instrument that renders in a child process: the renderer's work off the GIL.

DESIGN.md, "Threads and the real-time rules": when the renderer thread cannot hold the
rule (no audio callback ever waits), the renderer moves to a process and the interface
stays the same. ``ProcessInstrument`` is that move: it has the ``Instrument`` interface,
so the engine's renderer thread calls ``render`` exactly as before, but the model (torch
and its thousands of GIL-holding operator dispatches per note) lives in a child
process. The renderer thread only waits on a pipe (the GIL released) and copies the
finished notes in, so the audio callback, the MIDI thread and the GUI in the main
process no longer compete with the generator for the interpreter.

The child is started with the ``spawn`` method on every platform (a forked torch is not
safe, and macOS and Windows spawn anyway) from a picklable factory, e.g.
``ProcessInstrument(load_instrument, model_path, sample_rate)``; it ignores Ctrl-C (the
parent decides when it ends), runs at a lower scheduling priority (``nice`` 10 on POSIX:
when the cores are short, the audio callback's process and the GUI are served first) and
exits when the parent's end of the pipe closes.

A slow model (previews, ``engine.renderer``) gets a second child for ``render_window``
(``start_preview_process``, started in the background when the renderer first needs
previews): a held note's preview then starts at once, without waiting for the whole note
under way in the first child to reach a point where it can stop, and on POSIX the
preview child stops the first one (SIGSTOP) while it renders, so the preview has both
cores, and continues it (SIGCONT) as soon as it is done, whatever happens.

Wire format: requests ``("render", latents, pitches)``, ``("window", latents,
pitches, starts, length)`` and ``("close",)``; replies
``("notes", count, samples)`` followed by the float32 samples as one byte message, or
``("error", exception)``. A failure in the child reaches the caller as the same
exception type with the same sentence; a child that died is one sentence too.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.interface import FIELDS

__all__ = ["ProcessInstrument", "RenderCancelled", "RendererProcessError"]

RENDERER_NICENESS = 10  # the child's scheduling priority below the audio process
START_TIMEOUT_S = 300.0  # loading a model (and importing torch) in the child


class RendererProcessError(RuntimeError):
    """The renderer process could not start or ended (one sentence)."""


class RenderCancelled(RuntimeError):
    """A render dropped by ``ProcessInstrument.cancel`` (its timbre is outdated)."""


def _portable(err: BaseException) -> BaseException:
    """``err`` if it survives pickling, else a RuntimeError with its sentence."""
    import pickle

    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")


def _serve(
    conn, cancel, factory: Callable[..., Any], args: tuple, pause: int | None = None
) -> None:
    """The child's loop: build the instrument, then render requests until closed.

    ``pause``: the pid of a process to stop while this one renders (POSIX)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):  # background work: the audio and GUI threads come first
        try:
            os.nice(RENDERER_NICENESS)
        except OSError:
            pass
    try:
        instrument = factory(*args)
        attrs = {name: getattr(instrument, name, "") for name in FIELDS}
        attrs["pitch_range"] = tuple(attrs["pitch_range"])
        attrs["can_preview"] = bool(getattr(instrument, "can_preview", False))
        if hasattr(instrument, "set_interrupt"):
            instrument.set_interrupt(cancel.is_set)
    except BaseException as err:  # reported to the parent, which raises it
        conn.send(("error", _portable(err)))
        return
    conn.send(("ready", attrs))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent went away
            return
        if request[0] not in ("render", "window"):
            return
        cancel.clear()  # a cancel meant for the previous request is spent
        try:
            with _paused(pause):
                if request[0] == "render":
                    waves = instrument.render(request[1], request[2])
                else:
                    waves = instrument.render_window(*request[1:])
            waves = np.ascontiguousarray(waves, dtype=np.float32)
            if waves.ndim != 2:
                raise ValueError(f"instrument returned shape {waves.shape}")
        except Exception as err:
            if cancel.is_set():
                conn.send(("cancelled",))
            else:
                conn.send(("error", _portable(err)))
            continue
        conn.send(("notes", waves.shape[0], waves.shape[1]))
        conn.send_bytes(memoryview(waves).cast("B"))


def _signal(pid: int, name: str) -> bool:
    """Send signal ``name`` (e.g. "SIGSTOP") to ``pid``; False where the platform has
    no such signal or the process is gone."""
    number = getattr(signal, name, None)
    if number is None:
        return False
    try:
        os.kill(pid, number)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _paused(pid: int | None):
    """Stop process ``pid`` for the block (SIGSTOP, then SIGCONT whatever happens);
    nothing where there are no such signals or the process is gone."""
    stopped = pid is not None and hasattr(signal, "SIGCONT") and _signal(pid, "SIGSTOP")
    try:
        yield
    finally:
        if stopped:
            _signal(pid, "SIGCONT")


class _Child:
    """One renderer child process and its pipe; calls are serialised."""

    def __init__(
        self,
        factory: Callable[..., Any],
        args: tuple,
        start_timeout: float,
        name: str,
        pause: int | None = None,
    ) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.cancel = ctx.Event()
        self.lock = threading.Lock()
        self.proc = ctx.Process(
            target=_serve,
            args=(child, self.cancel, factory, args, pause),
            name=name,
            daemon=True,
        )
        self.proc.start()
        child.close()
        kind, payload = self._reply(start_timeout, "start")
        if kind == "error":
            self.close()
            raise payload
        self.attrs: dict[str, Any] = payload

    def _reply(self, timeout: float | None, what: str) -> tuple:
        """The child's next message; one sentence when it died or timed out."""
        try:
            if timeout is not None and not self.conn.poll(timeout):
                self.close()
                raise RendererProcessError(
                    f"the renderer process did not {what} within {timeout:.0f} s"
                )
            return self.conn.recv()
        except (EOFError, OSError) as err:
            code = self.proc.exitcode if not self.proc.is_alive() else None
            raise RendererProcessError(
                f"the renderer process ended (exit code {code}) during {what}"
            ) from err

    def call(self, request: tuple) -> np.ndarray:
        with self.lock:
            if not self.proc.is_alive():
                raise RendererProcessError(
                    f"the renderer process has ended (exit code {self.proc.exitcode})"
                )
            try:
                self.conn.send(request)
            except (OSError, ValueError) as err:
                raise RendererProcessError(
                    "the renderer process is not listening"
                ) from err
            kind, *rest = self._reply(None, "render")
            if kind == "cancelled":
                raise RenderCancelled("the render was cancelled")
            if kind == "error":
                raise rest[0]
            count, samples = rest
            try:
                data = self.conn.recv_bytes()
            except (EOFError, OSError) as err:
                raise RendererProcessError(
                    "the renderer process ended while sending notes"
                ) from err
        return np.frombuffer(data, np.float32).reshape(count, samples)

    def close(self, timeout: float = 5.0) -> None:
        proc = self.proc
        if proc.is_alive():
            try:
                self.conn.send(("close",))
            except (OSError, ValueError):
                pass
            proc.join(timeout)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout)
        self.conn.close()


class ProcessInstrument:
    """The instrument made by ``factory(*args)``, rendering in a child process.

    Has the ``engine.interface.Instrument`` members, copied from the child's instrument
    when it is ready. ``render`` is thread-safe (calls are serialised); ``close`` ends
    the child (also at garbage collection and interpreter exit, as a daemon process).

    Raises whatever ``factory`` raised in the child (same type and sentence), or
    ``RendererProcessError`` when the child cannot start.
    """

    sample_rate: int
    pitch_range: tuple[int, int]
    latent_size: int
    note_length: int
    model_id: str
    name: str
    device_name: str
    can_preview: bool  # the child's instrument has ``render_window``

    def __init__(
        self,
        factory: Callable[..., Any],
        *args: Any,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        self._factory, self._args, self._start_timeout = factory, args, start_timeout
        self._main = _Child(factory, args, start_timeout, "gansynth-renderer")
        self._proc = self._main.proc
        self._windows: _Child | None = None  # the preview child, once started
        self._windows_starting = False
        self._closed = False
        for name, value in self._main.attrs.items():
            setattr(self, name, value)

    @property
    def pid(self) -> int | None:
        return self._main.proc.pid

    @property
    def alive(self) -> bool:
        return self._main.proc.is_alive()

    @property
    def concurrent_preview(self) -> bool:
        """``render_window`` runs in its own child, beside a ``render`` under way."""
        return self._windows is not None

    def start_preview_process(self, warm_seconds: Sequence[float] = ()) -> None:
        """Start the preview child in the background (once; no-op where the
        instrument has no ``render_window``). Until it is ready, and if it cannot
        start, windows render in the main child as before.

        ``warm_seconds``: window lengths it renders once before it takes requests
        (the first window of a shape pays for setting up its kernels).
        """
        if not self.can_preview or self._windows_starting or self._closed:
            return
        self._windows_starting = True
        threading.Thread(
            target=self._start_windows,
            args=(tuple(warm_seconds),),
            name="preview-process-start",
            daemon=True,
        ).start()

    def _start_windows(self, warm_seconds: tuple[float, ...]) -> None:
        try:
            child = _Child(
                self._factory,
                self._args,
                self._start_timeout,
                "gansynth-previewer",
                pause=self.pid,
            )
        except Exception:  # previews go on in the main child
            return
        lo, hi = self.pitch_range
        try:
            for seconds in warm_seconds:
                child.call(
                    (
                        "window",
                        np.zeros((1, self.latent_size), np.float32),
                        np.array([(lo + hi) // 2], np.int64),
                        np.array([self.note_length // 2], np.int64),
                        max(1, int(seconds * self.sample_rate)),
                    )
                )
        except Exception:
            child.close()
            self._resume_main()
            return
        if self._closed:
            child.close()
        else:
            self._windows = child

    def render(self, latents: np.ndarray, pitches: np.ndarray) -> np.ndarray:
        """Latents [B, latent_size] float32, MIDI pitches [B] -> [B, samples]."""
        latents = np.ascontiguousarray(latents, dtype=np.float32)
        pitches = np.ascontiguousarray(pitches, dtype=np.int64)
        return self._main.call(("render", latents, pitches))

    def render_window(
        self, latents: np.ndarray, pitches: np.ndarray, starts: np.ndarray, length: int
    ) -> np.ndarray:
        """The child instrument's ``render_window`` (see ``instrument.synth``), in
        the preview child when there is one."""
        if not self.can_preview:
            raise ValueError(f"{self.name} cannot render windows of notes")
        latents = np.ascontiguousarray(latents, dtype=np.float32)
        pitches = np.ascontiguousarray(pitches, dtype=np.int64)
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        child = self._windows
        if child is not None and not child.proc.is_alive():
            child = self._windows = None  # it died: the main child previews again
        request = ("window", latents, pitches, starts, int(length))
        if child is None:
            return self._main.call(request)
        try:
            return child.call(request)
        except RendererProcessError:  # it died while the main child was stopped
            self._resume_main()
            raise

    def _resume_main(self) -> None:
        """Never leave the main child stopped (the preview child died or closed)."""
        if self._main.proc.is_alive():
            _signal(self._main.proc.pid, "SIGCONT")

    def cancel(self) -> None:
        """Drop the render under way (any thread): it raises ``RenderCancelled``.

        The child checks between generator layers (an instrument without
        ``set_interrupt`` finishes its note); the next request clears the mark.
        Windows in the preview child are not affected (``cancel_window``).
        """
        self._main.cancel.set()

    def cancel_window(self) -> None:
        """Drop the window under way in the preview child (as ``cancel``)."""
        child = self._windows
        if child is not None:
            child.cancel.set()

    def close(self, timeout: float = 5.0) -> None:
        """End the children (idempotent)."""
        self._closed = True
        if self._windows is not None:
            self._windows.close(timeout)
            self._resume_main()  # never leave it stopped
        self._main.close(timeout)

    def __enter__(self) -> ProcessInstrument:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"ProcessInstrument({getattr(self, 'name', '?')!r}, pid {self._proc.pid})"
        )
