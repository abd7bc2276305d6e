"""Which commands a transport may run: a default allowlist, opt-ins, and explicit refusals.

Anyone who can publish on the home broker can send a command, so MQTT runs
only what a voice remote needs by default. Commands that read or change
memory, use the camera, restart or reload the daemon, debug it, or list the
home's devices must be named in ``mqtt.allowed_commands`` first. The same
:class:`CommandPolicy` can guard the control socket (where local users are
trusted by file mode, so there it defaults to everything).

Patterns are exact names or a ``prefix.*`` that matches every command in
that namespace (``timer.*`` -> ``timer.set``, ``timer.cancel``, …).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from appliance.control.payload import shown
from appliance.core.errors import CommandError

REMOTE_DEFAULT: tuple[str, ...] = (
    "say",
    "ask",
    "listen",
    "stop",
    "mute",
    "volume",
    "wake_word",
    "sensitivity",
    "status",
    "timer.*",
    "timers.list",
    "alarm.*",
    "reminder.*",
    "list.*",
    "broadcast",
)
"""What MQTT may run without an opt-in."""

OPT_IN_ONLY: tuple[str, ...] = (
    "memory.*",
    "camera",
    "snapshot",
    "reload",
    "restart",
    "debug.*",
    "home.devices",
)
"""Documented opt-ins (``mqtt.allowed_commands``); anything not in either list is refused too."""


def matches(name: str, pattern: str) -> bool:
    """``name`` is ``pattern``, or ``pattern`` is ``ns.*`` and ``name`` is in namespace ``ns``."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return name.startswith(pattern[:-1]) and len(name) > len(pattern) - 1
    return name == pattern


@dataclass(frozen=True)
class CommandPolicy:
    """Allowed patterns minus refused ones; ``listen`` can be switched off on its own."""

    allowed: tuple[str, ...] = REMOTE_DEFAULT
    refused: tuple[str, ...] = ()
    allow_listen: bool = True
    transport: str = "MQTT"
    setting: str = "mqtt.allowed_commands"

    @classmethod
    def remote(
        cls, *, extra: Iterable[str] = (), disabled: Iterable[str] = (), allow_listen: bool = True
    ) -> CommandPolicy:
        """The MQTT policy: the defaults plus ``extra`` opt-ins, minus ``disabled``."""
        return cls(tuple(dict.fromkeys((*REMOTE_DEFAULT, *extra))), tuple(disabled), allow_listen)

    def permits(self, name: str) -> bool:
        """True if ``name`` may run over this transport."""
        if name == "listen" and not self.allow_listen:
            return False
        if any(matches(name, p) for p in self.refused):
            return False
        return any(matches(name, p) for p in self.allowed)

    def check(self, name: str) -> None:
        """Raise the coded refusal (``forbidden``, or ``disabled`` for an explicit one) unless permitted."""
        if self.permits(name):
            return
        if name == "listen" and not self.allow_listen:
            raise CommandError("forbidden", f"remote listen is off on {self.transport} (mqtt.allow_listen)")
        if any(matches(name, p) for p in self.refused):
            raise CommandError("disabled", f"{name} is disabled over {self.transport} (mqtt.disabled_commands)")
        raise CommandError(
            "forbidden", f"{shown(name)} is not allowed over {self.transport}; opt in with {self.setting}"
        )


def socket_policy(allowed: Iterable[str] = ("*",)) -> CommandPolicy:
    """The control socket's policy (``control.allowed_commands``): everything unless narrowed."""
    return CommandPolicy(tuple(allowed), transport="the control socket", setting="control.allowed_commands")
