"""The LLM tool path on labelled requests: how often it acts, and whether it ever acts wrongly (``appliance bench``)."""

from __future__ import annotations

import time
from typing import Any

from appliance.home.devices import DeviceDirectory
from appliance.home.tools import ScoringModel, choose
from appliance.settings import HomeDevice


def tool_accuracy(model: ScoringModel) -> dict[str, Any]:
    """The LLM tool path on labelled requests: how often it acts, and whether it ever acts wrongly."""
    devices = [
        HomeDevice(name="kitchen light", area="kitchen", command_topic="k"),
        HomeDevice(name="living room lamp", area="living room", command_topic="l"),
        HomeDevice(name="bedroom fan", area="bedroom", kind="fan", command_topic="f"),
    ]
    directory = DeviceDirectory(devices)
    acted = wrong = 0
    seconds = []
    for text, device, want in TOOL_REQUESTS:
        started = time.perf_counter()
        call = choose(model, text, directory.mentioned(text))
        seconds.append(time.perf_counter() - started)
        if call is not None:
            acted += 1
            wrong += call.action != want or call.device.name != device
    return {
        "requests": len(TOOL_REQUESTS),
        "acted": acted,
        "acted_wrongly": wrong,
        "asked_instead": len(TOOL_REQUESTS) - acted,
        "seconds_p50": round(sorted(seconds)[len(seconds) // 2], 3),
    }


TOOL_REQUESTS = [
    ("It's too dark in the kitchen.", "kitchen light", "on"),
    ("I'm feeling hot in the bedroom.", "bedroom fan", "on"),
    ("Please get rid of the light in the kitchen.", "kitchen light", "off"),
    ("Could you make the living room brighter?", "living room lamp", "on"),
    ("I'm going to sleep, kill the lamp in the living room.", "living room lamp", "off"),
    ("The bedroom is freezing.", "bedroom fan", "off"),
    ("I need some light in the kitchen.", "kitchen light", "on"),
    ("The kitchen light is still on, I'm off to bed.", "kitchen light", "off"),
    ("I can't see anything in the kitchen.", "kitchen light", "on"),
    ("No more light in the kitchen, please.", "kitchen light", "off"),
    ("Get the bedroom fan going.", "bedroom fan", "on"),
    ("The bedroom fan is too noisy, stop it.", "bedroom fan", "off"),
    ("Light up the kitchen.", "kitchen light", "on"),
    ("The living room lamp is wasting power.", "living room lamp", "off"),
    ("Darken the living room.", "living room lamp", "off"),
    ("It is pitch black in the kitchen.", "kitchen light", "on"),
    ("The kitchen is too dark.", "kitchen light", "on"),
    ("We need air in the bedroom.", "bedroom fan", "on"),
]
