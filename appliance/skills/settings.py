"""``[skills]`` settings, in the style of :mod:`appliance.settings` (the lead hooks this into ``Settings``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import setting


@dataclass(frozen=True)
class SkillsSettings:
    enabled: bool = setting(True, "Answer timers, alarms, reminders, time, arithmetic, units and lists locally.")
    timezone: str = setting("", "IANA time zone for the clock and alarms (e.g. Europe/London); empty = the device's.")
    clock_24h: bool = setting(False, "Speak times as 19:05 instead of 7:05 pm.")
    ring_s: float = setting(
        60.0, "How long a finished timer or alarm rings unless stopped.", unit="s", min=5.0, max=600.0
    )
    snooze_min: int = setting(9, "Snooze length when none is said.", unit="min", min=1, max=60)
    volume_step: int = setting(10, "How much 'volume up' / 'volume down' changes the volume.", unit="%", min=1, max=50)
