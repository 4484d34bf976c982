#!/usr/bin/env bash
# Create .venv in the repository root (Python 3.11) and install the whole stack into it:
# pinned requirements, dexndm_msgs (generated with rosidl from PyPI wheels, no ROS install), and
# the five Python packages in editable mode. Safe to run again: it only installs what changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; exit(sys.version_info[:2] != (3, 11))'; then
      python=$candidate; break
    fi
  done
fi
missing=()
[ -n "$python" ] || missing+=(python3.11 python3.11-venv python3.11-dev)
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
# the WebXR teleop page is tested in a real headless browser (optional for a non-root user)
browser=()
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || browser=(chromium)
if [ ${#browser[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing+=("${browser[@]}")
elif [ ${#browser[@]} -gt 0 ]; then
  echo "bootstrap: no Chromium: the teleop page test will be skipped (sudo apt-get install chromium)" >&2
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing ${missing[*]} with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    [ -n "$python" ] || python=python3.11
  else
    echo "bootstrap: missing ${missing[*]}; install them first, e.g." >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $python"
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)

echo "bootstrap: installing pinned requirements"
"${pip[@]}" install -r requirements.txt

# dexndm_msgs is a CMake/rosidl build (~50 s): rebuild only when its sources change.
stamp=.venv/.dexndm_msgs.sha256
digest=$(cat src/dexndm_msgs/CMakeLists.txt src/dexndm_msgs/package.xml src/dexndm_msgs/pyproject.toml src/dexndm_msgs/msg/*.msg | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ] || ! .venv/bin/python -c 'import dexndm_msgs.msg' 2>/dev/null; then
  echo "bootstrap: building dexndm_msgs (rosidl, about a minute)"
  "${pip[@]}" install --force-reinstall --no-deps ./src/dexndm_msgs
  echo "$digest" > "$stamp"
fi

echo "bootstrap: installing the stack's packages (editable)"
"${pip[@]}" install --no-deps -e src/dexndm_control -e src/dexndm_collect -e src/dexndm_sim -e src/dexndm_learning
echo "bootstrap: done. Try: .venv/bin/dexndm --help"
