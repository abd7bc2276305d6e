"""Facts the install and update scripts need, read with the standard library (and pip's TOML parser on 3.10).

Usage: install_info.py requirements PYPROJECT [EXTRA...]   dependencies, one per line
       install_info.py version PACKAGE-DIR                   __version__ of the package
       install_info.py detect-profile                        board profile for this machine
       install_info.py configured-profile CONFIG             [hardware] profile of a config ('' if unset)
       install_info.py extra PROFILE-TOML                    pip extra for the profile's GPIO ('' if none)
       install_info.py default-config PROFILE CUDA           a first config (reads `appliance config defaults` on stdin)
Exit codes: 0 ok, 1 unreadable input, 2 bad usage.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXTRAS = {"lgpio": "pi", "jetson": "jetson"}
"""pyproject extras that carry a profile's GPIO library."""
MODELS = (
    ("Raspberry Pi 5", "raspberry-pi-5"),
    ("Orin Nano", "jetson-orin-nano"),
)
"""/proc/device-tree/model substrings and the profile they get."""


def load(path: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10 (JetPack 6): pip vendors the same parser
        from pip._vendor import tomli as tomllib  # type: ignore[no-redef]
    with open(path, "rb") as handle:
        try:
            return tomllib.load(handle)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: {err}") from err


def requirements(pyproject: str, extras: list[str]) -> list[str]:
    project = load(pyproject)["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project.get("optional-dependencies", {}).get(extra, [])
    return lines


def version(package_dir: str) -> str:
    text = (Path(package_dir) / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if not match:
        raise ValueError(f"no __version__ in {package_dir}/__init__.py")
    return match.group(1)


def detect_profile(model_file: str = "/proc/device-tree/model") -> str:
    try:
        model = Path(model_file).read_text(errors="replace")
    except OSError:
        return "generic-linux"
    return next((profile for marker, profile in MODELS if marker in model), "generic-linux")


def default_config(defaults: str, profile: str, cuda: bool) -> str:
    """``appliance config defaults`` with the board profile (and GPU offload) switched on."""
    out, section = [], ""
    for line in defaults.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        if section == "hardware" and line.startswith("# profile = "):
            line = f'profile = "{profile}"'
        if cuda and section == "llm" and line.startswith("# n_gpu_layers = "):
            line = "n_gpu_layers = -1"
        out.append(line)
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return EXIT_USAGE
    action, rest = argv[0], argv[1:]
    try:
        if action == "requirements" and rest:
            print("\n".join(requirements(rest[0], rest[1:])))
        elif action == "version" and len(rest) == 1:
            print(version(rest[0]))
        elif action == "detect-profile" and not rest:
            print(detect_profile())
        elif action == "configured-profile" and len(rest) == 1:
            print(load(rest[0]).get("hardware", {}).get("profile", ""))
        elif action == "extra" and len(rest) == 1:
            print(EXTRAS.get(load(rest[0]).get("board", {}).get("gpio", "none"), ""))
        elif action == "default-config" and len(rest) == 2:
            sys.stdout.write(default_config(sys.stdin.read(), rest[0], rest[1] == "1"))
        else:
            print(__doc__, file=sys.stderr)
            return EXIT_USAGE
    except (OSError, ValueError, KeyError) as err:
        print(f"install_info.py {action}: {err}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
