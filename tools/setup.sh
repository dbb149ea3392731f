#!/usr/bin/env bash
# Sets up a fresh machine for the instrument: system packages (Debian/Ubuntu apt, or a note
# for other systems), a virtual environment at .venv, and the Python packages.
#   bash tools/setup.sh          # the instrument and the trainer
#   bash tools/setup.sh --dev    # plus the test tools
# System packages (apt): libportaudio2 (audio out), jackd2 (JACK audio/MIDI server),
# libjemalloc2 (2x faster torch on CPU), the Qt runtime libraries, fluid-soundfont-gm (the
# training SoundFont; also used by tests). sudo is used only for apt and only when not root.
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
for arg in "$@"; do [[ "$arg" == "--dev" ]] && DEV=1; done

APT_PACKAGES=(libportaudio2 jackd2 libjemalloc2 fluid-soundfont-gm
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libgl1 libegl1 libxkbcommon0
  libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0)
if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    echo "setup: installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "setup: no apt-get here; install PortAudio (and JACK for tests) with your package manager."
fi

PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: an open-ended requirement would pull a multi-GB CUDA build.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}"
fi
extras="train"; ((DEV)) && extras="train,dev"
.venv/bin/python -m pip install -q -e ".[${extras}]"
# torchcrepe (pitch judge) requires torchaudio, which does not load beside the CPU torch;
# it is installed without dependencies and loaded through trainer/pitch.py.
.venv/bin/python -m pip install -q --no-deps "torchcrepe==0.0.24"
# tinysoundfont renders SoundFont notes; its hard pyaudio dependency is only used for live
# playback, which we never call, so it is installed without dependencies too.
.venv/bin/python -m pip install -q --no-deps "tinysoundfont>=0.3"
echo "setup: ready (.venv)"
