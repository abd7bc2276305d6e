# shellcheck shell=bash
# The Home Assistant core the tests start (tests/ha_support.py), in a venv of its own on pyenv's
# Python 3.13.0, cached outside the repository like the llama.cpp wheel. Sourced by scripts/setup
# (--dev), never executed.
#
# Home Assistant pip-installs an integration's requirements on its first start; the tests start it
# with --skip-pip instead, so every requirement of the integrations they use is installed here, once,
# pinned by Home Assistant's own manifests and package_constraints.txt. A second run installs nothing.

readonly HA_VERSION=2025.4.4
# aioesphomeapi newer than 29.9.0 fails to import with protobuf 5.29.2 (the version HA pins):
# "gencode/runtime version" mismatch.
readonly HA_PINS=("homeassistant==$HA_VERSION" aioesphomeapi==29.9.0 protobuf==5.29.2)
# The integrations the tests set up, beyond those every start sets up (tests/ha_support.py's
# configuration.yaml, and the config entries the tests add).
readonly HA_DOMAINS=(
  http api websocket_api auth onboarding config conversation intent assist_pipeline assist_satellite
  stt tts wake_word ffmpeg timer template input_boolean input_number light cover lock sensor scene script
  media_player switch esphome wyoming
)

# ha_python: pyenv's Python 3.13.0 (HA 2025.4.4 is the newest release that runs on 3.13.0), or nothing.
ha_python() {
  local pyenv_root
  pyenv_root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  [[ -x "$pyenv_root/versions/3.13.0/bin/python" ]] && echo "$pyenv_root/versions/3.13.0/bin/python"
}

# ha_venv_install ROOT: create or complete the venv (quiet when it is complete). Uses say/quietly.
ha_venv_install() {
  local root=$1 ha_venv python stamp want constraints
  ha_venv=${APPLIANCE_HA_VENV:-$HOME/.cache/appliance/home-assistant-$HA_VERSION}
  stamp="$ha_venv/.appliance-ha-setup"
  want=$( (echo "${HA_PINS[*]} ${HA_DOMAINS[*]}"; cat "$root/scripts/lib/ha_requirements.py") | sha256sum | cut -c1-16)
  [[ -x "$ha_venv/bin/hass" && "$(cat "$stamp" 2>/dev/null || true)" == "$want" ]] && return 0
  if ! python=$(ha_python); then
    say "Home Assistant tests need Python 3.13.0 from pyenv (pyenv install 3.13.0); the tests of" \
      "tests/test_ha_*.py fail until then"
    return 0
  fi
  say "installing Home Assistant $HA_VERSION for the tests into $ha_venv (once, about 3 min)"
  [[ -x "$ha_venv/bin/python" ]] || quietly "$python" -m venv "$ha_venv"
  quietly "$ha_venv/bin/python" -m pip install --progress-bar off "${HA_PINS[@]}"
  constraints=$("$ha_venv/bin/python" -c \
    'import homeassistant, pathlib; print(pathlib.Path(homeassistant.__file__).parent / "package_constraints.txt")')
  "$ha_venv/bin/python" "$root/scripts/lib/ha_requirements.py" "${HA_DOMAINS[@]}" >"$ha_venv/integration-requirements.txt"
  quietly "$ha_venv/bin/python" -m pip install --progress-bar off -c "$constraints" \
    -r "$ha_venv/integration-requirements.txt" "${HA_PINS[@]}"
  echo "$want" >"$stamp"
}
