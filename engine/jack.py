"""A private JACK server with the dummy driver, for tests and the benchmark.

The server is named (``jackd -n NAME``) and exported as ``$JACK_DEFAULT_SERVER`` for
this process and the processes it starts, so no other session can stop it under a
running test (ENVIRONMENT.md: the dummy driver is a clock-paced server, no sound card).
PortAudio lists JACK only if the server ran when it was initialised, and it must be
terminated before the server stops (libportaudio aborts at exit otherwise): ``ensure``
re-initialises it and ``stop`` terminates it first.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from engine.audio import reinitialize_portaudio, terminate_portaudio

__all__ = ["JackServer", "jack_running", "jack_value"]


def jack_running() -> bool:
    """True when the server ``$JACK_DEFAULT_SERVER`` names (or the default) runs."""
    try:
        out = subprocess.run(
            ["jack_wait", "-c"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip() == "running"


def jack_value(tool: str, default: int) -> int:
    """The number a query tool prints last (``jack_bufsize``, ``jack_samplerate``)."""
    try:
        out = subprocess.run([tool], capture_output=True, text=True, timeout=10)
        return int(out.stdout.split()[-1])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return default


class JackServer:
    """``jackd -n <prefix>-<pid> -R -d dummy -r RATE -p PERIOD`` of this process."""

    def __init__(self, prefix: str, rate: int = 48000) -> None:
        if shutil.which("jackd") is None:
            raise OSError("jackd is not installed (apt-get install jackd2)")
        self.name = f"{prefix}-{os.getpid()}"
        self.rate = int(rate)
        self.period = 0
        self._proc: subprocess.Popen | None = None
        self._previous = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = self.name

    def ensure(self, period: int) -> int:
        """The server running with ``period`` frames; returns the period it reports."""
        if self._proc is None or self.period != period:
            self.stop()
            self._proc = subprocess.Popen(
                ["jackd", "-n", self.name, "-R", "-d", "dummy"]
                + ["-r", str(self.rate), "-p", str(period)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            subprocess.run(
                ["jack_wait", "-w", "-t", "10"], capture_output=True, timeout=20
            )
            if not jack_running():
                self.stop()
                raise OSError("jackd -d dummy did not start within 10 s")
            self.period = jack_value("jack_bufsize", period)
            reinitialize_portaudio()
        return self.period

    def stop(self) -> None:
        """Terminate PortAudio, then the server (if it runs)."""
        terminate_portaudio()
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        """Stop the server and restore $JACK_DEFAULT_SERVER."""
        self.stop()
        if self._previous is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = self._previous

    def __enter__(self) -> JackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
