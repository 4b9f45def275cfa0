#!/usr/bin/env bash
# Creates the project's virtual environment on a fresh machine: the Debian libraries bpy loads at run time,
# then Python 3.11 packages from pyproject.toml (base dependencies plus the render and dev extras). Safe to
# re-run; does nothing that is already done.
set -euo pipefail
venv="${1:-.venv}"
python="${PYTHON:-python3.11}"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup: $python not found; bpy 5.0 needs CPython 3.11 exactly" >&2
    exit 1
fi

# Shared libraries the bpy wheel links against or dlopens (X11/GL stubs, OpenMP) that slim images lack.
debs=(libxrender1 libxxf86vm1 libxfixes3 libxi6 libxkbcommon0 libsm6 libgl1 libegl1 libgomp1)
missing=()
for deb in "${debs[@]}"; do
    dpkg -s "$deb" >/dev/null 2>&1 || missing+=("$deb")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing Debian packages for bpy: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "setup: warning: missing Debian packages for bpy (install them as root): ${missing[*]}" >&2
    fi
fi

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[render,dev]"  # render: bpy, for the demo and the render tests
"$venv/bin/python" -c "import bpy, torch, torchvision, timm, cv2, h5py; print('setup: ok (bpy', bpy.app.version_string + ', torch', torch.__version__ + ')')"
