# shellcheck shell=bash disable=SC2034 # its variables are used by the scripts that source it
# Shared by the maintenance scripts: messages, exit codes, the paths of an
# installation, and running the appliance CLI the way the service runs it.
# Sourced, never executed.

# Exit codes (also listed in every script's --help).
readonly EXIT_OK=0           # done (or nothing to do)
readonly EXIT_FAIL=1         # a step failed (the message says which)
readonly EXIT_USAGE=2        # bad command line
readonly EXIT_NOT_INSTALLED=3 # no installation / daemon not running
readonly EXIT_PRIVILEGE=4    # needs root

readonly UNIT=appliance.service
readonly SERVICE_USER=appliance
LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly LIB_DIR

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  local code=$1
  shift
  say "$*"
  exit "$code"
}
# bad_usage MESSAGE: the message, the usage text, exit 2 (usage() is the script's).
bad_usage() {
  say "$1"
  usage >&2
  exit "$EXIT_USAGE"
}
# need_arg OPTION VALUE-COUNT: an option that takes a value got one.
need_arg() { [[ $2 -ge 2 ]] || bad_usage "$1 needs a value"; }

# set_prefix DIR: every path of an installation under DIR ("" = this system).
# --prefix (or DESTDIR) lays out or inspects a tree in a folder instead: no
# systemctl, no useradd on the host, nothing outside DIR.
set_prefix() {
  PREFIX=${1%/}
  OPT=$PREFIX/opt/appliance
  ETC=$PREFIX/etc/appliance
  CONFIG=$ETC/appliance.toml
  STATE=$PREFIX/var/lib/appliance
  CACHE=$PREFIX/var/cache/appliance
  LOGS=$PREFIX/var/log/appliance
  RUNTIME=$PREFIX/run/appliance
  SOCKET=$RUNTIME/control.sock
  UNIT_FILE=$PREFIX/etc/systemd/system/$UNIT
  SYSUSERS_FILE=$PREFIX/etc/sysusers.d/appliance.conf
  TMPFILES_FILE=$PREFIX/etc/tmpfiles.d/appliance.conf
  UDEV_FILE=$PREFIX/etc/udev/rules.d/99-appliance.rules
  ASOUND_FILE=$PREFIX/etc/asound.conf
}
set_prefix "${DESTDIR:-}"

# True on a host where systemd runs and we are not working inside a prefix.
systemd_here() { [[ -z $PREFIX && -d /run/systemd/system ]] && command -v systemctl >/dev/null; }

need_root() {
  [[ -n $PREFIX || $(id -u) -eq 0 ]] || die "$EXIT_PRIVILEGE" "run this as root (sudo $0 ...)"
}

installed() { [[ -L $OPT/current && -x $OPT/current/venv/bin/appliance ]]; }

# A Python for the helpers in scripts/lib (standard library only): the
# installed one, else the system's, so status and backup work on a broken install.
helper_python() {
  if [[ -x $OPT/current/venv/bin/python ]]; then
    echo "$OPT/current/venv/bin/python"
  elif command -v python3 >/dev/null; then
    command -v python3
  else
    die "$EXIT_FAIL" "no python3 found"
  fi
}

# as_service CMD...: run as the service user (when root on a real system) with
# the directories systemd gives the service, so files it creates get the right
# owner, and without the caller's PYTHONPATH (the installed version runs, not a checkout).
as_service() {
  local env=(
    "STATE_DIRECTORY=$STATE" "CACHE_DIRECTORY=$CACHE" "RUNTIME_DIRECTORY=$RUNTIME"
    "LOGS_DIRECTORY=$LOGS" "PYTHONDONTWRITEBYTECODE=1"
  )
  [[ -f $CONFIG ]] && env+=("APPLIANCE_CONFIG=$CONFIG")
  if [[ -z $PREFIX && $(id -u) -eq 0 ]] && id "$SERVICE_USER" >/dev/null 2>&1; then
    runuser -u "$SERVICE_USER" -- env -u PYTHONPATH -u PYTHONHOME "${env[@]}" "$@"
  else
    env -u PYTHONPATH -u PYTHONHOME "${env[@]}" "$@"
  fi
}

# The daemon's status over its control socket (JSON on stdout); exit 3 when none answers.
daemon_call() { "$(helper_python)" "$LIB_DIR/control.py" "$SOCKET" "$@"; }

# state_do CMD...: a file step inside the service-writable state directory. As root
# on a real system it runs as the service user, so a link the service (or whoever
# took it over) planted there cannot turn root's write, move or chown elsewhere.
state_do() {
  if [[ -z $PREFIX && $(id -u) -eq 0 ]] && id "$SERVICE_USER" >/dev/null 2>&1; then
    runuser -u "$SERVICE_USER" -- "$@"
  else
    "$@"
  fi
}

# state_write DEST < SOURCE: a new private file (0600) in the state directory, written
# by state_do; root opens SOURCE, so it may lie where the service user cannot read.
state_write() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  state_do sh -c 'umask 077 && rm -f -- "$1" && cat >"$1"' state_write "$1"
}

# refuse_links PATH...: exit 1 when one of them is a symbolic link (never followed as root).
refuse_links() {
  local path
  for path in "$@"; do
    [[ ! -L $path ]] || die "$EXIT_FAIL" "$path is a symbolic link: refusing to follow it as root"
  done
}
