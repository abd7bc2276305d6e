"""How long the sentence matcher takes with a large home: 300 devices in 50 areas (not a test; nothing asserted).

Run: ``.venv/bin/python -m tests.understanding_timing``.  Prints p50/p99 of
``SentenceMatcher.match`` over a mix of requests (home control, timers, the clock,
lists, misses, a 5,000-character text), on the wall clock and in CPU time, and
the load average, since a busy machine stretches the wall clock and not the CPU time.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from appliance.home.control import HomeControl
from appliance.settings import HomeDevice
from appliance.skills.engine import Skills
from appliance.skills.settings import SkillsSettings
from appliance.skills.store import FILENAME, SkillStore
from appliance.skills.voice import SkillContext
from appliance.understanding.mapping import Ports
from appliance.understanding.matcher import SentenceMatcher
from appliance.understanding.sentences import SentenceLibrary

ROOMS = ("kitchen", "hallway", "bedroom", "guest room", "office", "living room", "dining room", "bathroom",
         "garage", "attic", "cellar", "porch", "garden", "nursery", "study", "library", "laundry", "pantry",
         "landing", "loft")  # fmt: skip
KINDS = (("light", "ceiling light"), ("light", "lamp"), ("light", "spotlights"), ("fan", "fan"),
         ("switch", "heater switch"), ("outlet", "plug"))  # fmt: skip
REQUESTS = (
    "turn off the kitchen ceiling light", "turn on the lights in the guest room 2", "is the porch lamp on",
    "set the study spotlights to 30 percent", "switch off all the lights", "turn on lamp number 57",
    "set a timer for ten minutes", "what time is it", "what's the date", "which day is it", "volume up",
    "set the volume to 40", "add eggs, milk and bread to the shopping list", "what's on my to do list",
    "cancel all timers", "how long is left on my timer", "pause", "never mind", "tell everyone dinner is ready",
    "what is the capital of france", "remind me to call mum at six", "how many days until christmas",
    "remember that my keys are in the drawer", "what's seven times eight", "tell me a joke about cats and dogs",
    "could you time an hour and a half for me", "turn the attic 3 fan on please", "x" * 5000,
)  # fmt: skip
ROUNDS = 60
WARM = 3
"""Rounds left out of the figures: hassil parses templates lazily on first use."""


def home(devices: int = 300, areas: int = 50) -> list[HomeDevice]:
    """``devices`` devices spread over ``areas`` areas, each with an alias."""
    names = [f"{ROOMS[i % len(ROOMS)]}{'' if i < len(ROOMS) else f' {i // len(ROOMS) + 1}'}" for i in range(areas)]
    out = []
    for i in range(devices):
        kind, noun = KINDS[(i // areas) % len(KINDS)]
        area = names[i % areas]
        out.append(
            HomeDevice(
                name=f"{area} {noun}", aliases=(f"{noun} number {i}",), area=area, kind=kind, command_topic=f"h/{i}"
            )
        )
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    devices = home()
    skills = Skills(SkillStore(Path(tempfile.mkdtemp()) / FILENAME), tz=ZoneInfo("UTC"), now=time.time).open()
    control = HomeControl(devices, publish=lambda *args: True, report=lambda event: None)
    started = time.perf_counter()
    ports = Ports(skills=SkillContext(skills, SkillsSettings()), home=control)
    matcher = SentenceMatcher(SentenceLibrary("en"), ports, devices=devices)
    print(f"built for {len(devices)} devices in 50 areas: {1000 * (time.perf_counter() - started):.1f} ms")
    wall: list[float] = []
    cpu: list[float] = []
    for round_ in range(ROUNDS):
        for text in random.sample(REQUESTS, len(REQUESTS)):
            began, began_cpu = time.perf_counter(), time.thread_time()
            matcher.match(text)
            if round_ >= WARM:
                cpu.append(time.thread_time() - began_cpu)
                wall.append(time.perf_counter() - began)
    for label, values in (("wall clock", wall), ("CPU time", cpu)):
        p50, p99 = 1000 * percentile(values, 0.5), 1000 * percentile(values, 0.99)
        print(f"{label}: {len(values)} requests, p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {1000 * max(values):.2f} ms")
    print("load average: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    skills.close()


if __name__ == "__main__":
    main()
