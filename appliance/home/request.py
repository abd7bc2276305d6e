"""A home request as the understanding layer hands it to home control: what to do, to what, where.

The sentence matcher (``appliance.understanding``) fills one of these from a
matched sentence's slots; :meth:`~appliance.home.control.HomeControl.handle`
resolves it against the devices and returns the intent that carries it out.
Keeping the two apart lets another source of devices (Home Assistant) sit
behind the same request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HomeAction = Literal["on", "off", "brightness", "state"]
HERE = "here"
"""The ``area`` of "in here", "this room": the appliance's own ``rooms.area``."""
STEP = 20
"""Percent points of a relative brightness change said without a number ("brighter", "dim the lights a bit")."""


@dataclass(frozen=True)
class HomeRequest:
    action: HomeAction
    name: str | None = None
    """A device name or alias as matched ("kitchen light"), or None when only an area or kind is said."""
    area: str | None = None
    """An area as matched ("kitchen"), :data:`HERE` for this room, or None."""
    domain: str | None = None
    """The kind said ("light", "fan", "switch"), or None."""
    brightness: int | None = None
    """Absolute brightness, 0-100 percent."""
    brightness_step: int | None = None
    """Relative brightness in percent points: +20 brighter, -20 dimmer."""
    every: bool = False
    """ "all the lights", "everything": every matching device, never a question back."""
