"""Home control as an intent matcher: sentence requests, the fast local path, the LLM's tool call last.

``match`` runs on every request and must stay cheap (no model, no I/O): it
returns an :class:`~appliance.voice.reply.Intent` whose action runs only once the
request is committed, so a speculative transcript never switches anything.  An
action is claimed in words only after its publication went out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from appliance.core.events import Event, IntentExecuted
from appliance.home import speech
from appliance.home.assistant import READ, SWITCHED, Assistant, HaDevice
from appliance.home.dimming import parse_brightness
from appliance.home.phrases import bare_switch, parse_state, parse_switch
from appliance.home.remote import RemoteHome
from appliance.home.request import HomeRequest
from appliance.home.resolve import Resolver, Target
from appliance.home.states import DeviceStates
from appliance.home.tools import ScoringModel, choose, worth_asking
from appliance.settings import HomeDevice
from appliance.voice.reply import Intent

Publisher = Callable[[str, str, bool], bool]
"""(topic, payload, retain) -> whether it went out."""
Action = Callable[[], Awaitable[str | None]]


class HomeControl:
    """Turns "turn on the kitchen light", "dim the kitchen to 30 percent", "is the porch light on?" into
    MQTT publications (or a look at the devices' reported states) and a spoken answer.

    Two ways in: :meth:`handle` takes a :class:`HomeRequest` built by the sentence matcher
    (``appliance.understanding``); :meth:`match` is the pipeline's own matcher (the fast
    "turn on X" grammar, then the LLM's tool call).  :meth:`vocabulary` gives the names and
    areas for the sentence matcher's slot lists.
    """

    def __init__(
        self,
        devices: tuple[HomeDevice, ...] | list[HomeDevice],
        *,
        publish: Publisher,
        report: Callable[[Event], None],
        model: ScoringModel | None = None,
        here: str = "",
        assistant: Assistant | None = None,
    ) -> None:
        """``here``: the appliance's own area (``rooms.area``), for "in here" and "this room";
        ``assistant``: the link to Home Assistant, whose entities join through :meth:`set_remote`."""
        self.configured = list(devices)
        self.here = here
        self.resolver = Resolver(devices, here=here)
        self.directory = self.resolver.directory
        self.states = DeviceStates(devices)
        """Fed by the feature from the devices' state topics."""
        self.remote = RemoteHome(assistant, report) if assistant is not None else None
        self.remote_devices: list[HaDevice] = []
        self.on_devices: list[Callable[[list[HomeDevice]], None]] = []
        """Called with every device (configured and Home Assistant's) whenever Home Assistant's change."""
        self._publish = publish
        self._report = report
        self._model = model

    def set_remote(self, devices: Sequence[HaDevice]) -> None:
        """Home Assistant's entities as they are now: resolved beside the configured devices from the next request."""
        self.remote_devices = list(devices)
        everything = [*self.configured, *devices]
        resolver = Resolver(everything, here=self.here)
        self.directory = resolver.directory  # the matching thread may read these: each is swapped whole
        self.resolver = resolver
        for listener in self.on_devices:
            listener(everything)

    def vocabulary(self) -> tuple[list[str], list[str]]:
        """(every device name and alias, every area and floor), as configured: the slot lists' values.

        The names include aliases ("ceiling light"); the areas include floors ("downstairs")
        and the appliance's own area.  Each list keeps configuration order, without repeats.
        """
        return self.resolver.names(), self.resolver.areas()

    def match(self, text: str) -> Intent | None:
        """An intent for ``text``, or None to let the LLM answer it as conversation."""
        asked = _question_or_brightness(text)
        if asked is not None:
            target = self.resolver.resolve(asked)
            if not target.unknown:  # one that names no device ("is the party on?"): conversation
                return self._intent(asked, target, text, "local")
        switch = parse_switch(text)
        if switch is not None:
            request = HomeRequest(
                "on" if switch.action == "on" else "off",
                switch.target or None,
                switch.area or None,
                every=switch.everything,
            )
            target = self.resolver.resolve(request)
            if target.devices or switch.explicit:  # a bare "the party is on" that names no device: conversation
                return self._intent(request, target, text, "local")
        action = bare_switch(text)
        if action is not None:  # "turn on": asked back, never guessed
            return Intent(f"home.{action}", f"What should I turn {action}?", data={"error": "devices"})
        if self._model is not None:
            mentioned = [d for d in self.directory.mentioned(text) if _switched(d)]  # never a lock by a guess
            if worth_asking(text, mentioned):
                return Intent(
                    "home_llm",
                    "Sorry, I could not work out which device to switch.",
                    self._ask_model(text, mentioned),
                    data={"candidates": [d.name for d in mentioned]},
                )
        return None

    def handle(self, request: HomeRequest, text: str) -> Intent | None:
        """The intent that carries out ``request`` (from a matched sentence), or None when no device is configured.

        Intent names and data follow the shared contract: ``home.on``/``home.off`` (devices, area),
        ``home.brightness`` (devices, brightness or step), ``home.state`` (devices),
        ``home.ambiguous`` and ``home.unknown`` (said back, nothing done).  Resolving is cheap;
        the publication happens in the intent's action, once the request is committed.
        """
        if not self.resolver.devices and self.remote is None:
            return None
        return self._intent(request, self.resolver.resolve(request), text, "local")

    def delegate(self, text: str) -> Intent | None:
        """Home Assistant's own agent for a home request the appliance cannot place; None without Home Assistant."""
        return None if self.remote is None else self.remote.delegate(text)

    def _intent(self, request: HomeRequest, target: Target, text: str, via: str) -> Intent:
        if target.unknown:
            return self.remote.delegate(text) if self.remote is not None else Intent("home.unknown", target.unknown)
        if target.ambiguous:
            return Intent("home.ambiguous", speech.which(target.ambiguous))
        devices = list(target.devices)
        remote = [d for d in devices if isinstance(d, HaDevice)]
        if self.remote is not None and any(_theirs(d, request.action) for d in remote):
            return self.remote.delegate(text)  # a thermostat, a vacuum: Home Assistant's agent knows them
        data: dict[str, object] = {"devices": "|".join(sorted(d.name for d in devices))}
        if request.action == "state":
            return Intent(
                "home.state",
                self._states_said(devices, target),
                self._tell(devices, target),
                data,
                pure=True,
            )
        if request.action == "brightness":
            return self._brightness(request, devices, target.area, text, via, data)
        data["area"] = target.area
        action = self._switch_later(text, devices, request.action, via, target.area)
        return Intent(f"home.{request.action}", "", action, data)

    def _brightness(
        self, request: HomeRequest, devices: list[HomeDevice], area: str, text: str, via: str, data: dict[str, object]
    ) -> Intent:
        if request.brightness is not None:
            data["brightness"] = max(0, min(100, request.brightness))
        elif request.brightness_step:
            data["step"] = request.brightness_step
        else:
            return Intent(
                "home.brightness",
                "How bright should it be? Say a level, like 50 percent.",
                data=data | {"error": "brightness"},
            )
        able = [d for d in devices if d.dimmable]
        if not able:
            return Intent("home.brightness", speech.not_dimmable(devices), data=data)
        unable = [d for d in devices if not d.dimmable]
        local = [d for d in able if not isinstance(d, HaDevice)]
        remote = [d for d in able if isinstance(d, HaDevice)]

        async def act() -> str:
            said = ""
            if local:
                said = self.set_brightness(text, local, request.brightness, request.brightness_step, via, area)
            if remote and self.remote is not None:
                said = f"{said} {await self._remote_brightness(text, remote, request, via)}".strip()
            return said + (" " + speech.not_dimmable(unable) if unable else "")

        return Intent("home.brightness", "", act, data)

    async def _remote_brightness(self, text: str, devices: list[HaDevice], request: HomeRequest, via: str) -> str:
        assert self.remote is not None
        calls: list[tuple[HaDevice, str, int | None]] = []
        unknown = []
        for device in devices:
            base = self.remote.level(device) if request.brightness is None else None
            level = _level(request.brightness, base, request.brightness_step)
            if level is None:
                unknown.append(device)
            else:
                calls.append((device, "brightness", level))
        said = await self.remote.act(text, calls, via) if calls else ""
        return f"{said} {speech.level_unknown(unknown)}".strip() if unknown else said

    def _tell(self, devices: list[HomeDevice], target: Target) -> Action:
        async def tell() -> str:
            return self._states_said(devices, target)

        return tell

    def _states_said(self, devices: list[HomeDevice], target: Target) -> str:
        local = [d for d in devices if not isinstance(d, HaDevice)]
        remote = [d for d in devices if isinstance(d, HaDevice)]
        said = speech.states_said(local, self.states, target.area) if local else ""
        if remote and self.remote is not None:
            said = f"{said} {self.remote.state(remote)}".strip()
        return said

    def _switch_later(self, text: str, devices: list[HomeDevice], action: str, via: str, area: str = "") -> Action:
        async def act() -> str | None:
            local = [d for d in devices if not isinstance(d, HaDevice)]
            remote = [d for d in devices if isinstance(d, HaDevice)]
            said = self.switch(text, local, action, via, area) if local else ""
            scenes = [d for d in remote if d.domain == "scene" and action == "off"]  # a scene has no "off"
            calls = [(d, action, None) for d in remote if d not in scenes]
            if calls and self.remote is not None:
                said = f"{said} {await self.remote.act(text, calls, via)}".strip()
            for scene in scenes:
                said = f"{said} {scene.name[:1].upper()}{scene.name[1:]} can only be activated, not turned off.".strip()
            return said

        return act

    def _ask_model(self, text: str, mentioned: list[HomeDevice]) -> Action:
        assert self._model is not None
        model = self._model

        async def act() -> str | None:
            call = await asyncio.to_thread(choose, model, text, mentioned)
            if call is None:  # the model was unsure: ask rather than guess
                return f"Sorry, I'm not sure whether you want {speech.names(mentioned, 'or')} on or off."
            if isinstance(call.device, HaDevice) and self.remote is not None:
                return await self.remote.act(text, [(call.device, call.action, None)], "llm")
            return self.switch(text, [call.device], call.action, "llm")

        return act

    def switch(self, text: str, devices: Sequence[HomeDevice], action: str, via: str, area: str = "") -> str:
        """Publish each device's payload; the sentence that says what was done."""
        done = []
        for device in devices:
            payload = device.payload_on if action == "on" else device.payload_off
            if self._send(text, device, "switch", action, device.command_topic, payload, via):
                self.states.commanded(device, on=action == "on")
                done.append(device)
        return speech.switched(action, done, [d for d in devices if d not in done], area)

    def set_brightness(
        self, text: str, devices: Sequence[HomeDevice], level: int | None, step: int | None, via: str, area: str = ""
    ) -> str:
        """Publish each dimmable device's brightness (0 = its off payload); what was done, in words."""
        done: list[tuple[HomeDevice, int]] = []
        missed, unknown = [], []
        for device in devices:
            percent = self._target_level(device, level, step)
            if percent is None:
                unknown.append(device)
                continue
            if percent == 0:
                topic, payload = device.command_topic, device.payload_off
            else:
                topic, payload = device.brightness_command_topic, device.brightness_command(device.to_scale(percent))
            if self._send(text, device, "brightness", str(percent), topic, payload, via):
                self.states.commanded(device, on=percent > 0, brightness=percent or None)
                done.append((device, percent))
            else:
                missed.append(device)
        if unknown and not done and not missed:
            return speech.level_unknown(unknown)
        said = speech.brightness_set(done, None if level is not None else step, missed, area)
        return said + (" " + speech.level_unknown(unknown) if unknown else "")

    def _target_level(self, device: HomeDevice, level: int | None, step: int | None) -> int | None:
        return _level(level, None if level is not None else self.states.base_for_step(device), step)

    def _send(
        self, text: str, device: HomeDevice, intent: str, action: str, topic: str, payload: str, via: str
    ) -> bool:
        if not self._publish(topic, payload, device.retain):
            return False
        self._report(
            IntentExecuted(
                intent=intent, device=device.name, action=action, topic=topic, payload=payload, via=via, text=text
            )
        )
        return True


def _switched(device: HomeDevice) -> bool:
    """A device the LLM's tool path may switch: any configured one; of Home Assistant's, lights, switches, fans."""
    return not isinstance(device, HaDevice) or device.domain in SWITCHED


def _theirs(device: HaDevice, action: str) -> bool:
    """Left to Home Assistant's agent: a thermostat, a vacuum (a sensor is read here, never switched)."""
    return not device.acted and (device.domain not in READ or action != "state")


def _level(level: int | None, base: int | None, step: int | None) -> int | None:
    """The brightness to set: ``level`` as said, else ``base`` moved by ``step`` (within 1-100; off stays off)."""
    if level is not None:
        return max(0, min(100, level))
    if base is None or step is None:
        return None
    if base == 0 and step < 0:
        return 0
    return max(1, min(100, base + step))


def _question_or_brightness(text: str) -> HomeRequest | None:
    """The fast grammar's state question or brightness request in ``text``."""
    question = parse_state(text)
    if question is not None:
        return HomeRequest("state", question.target or None, question.area or None, every=question.everything)
    dim = parse_brightness(text)
    if dim is None:
        return None
    step = dim.step
    return HomeRequest(
        "brightness",
        dim.target or None,
        dim.area or None,
        brightness=dim.level,
        brightness_step=step,
        every=dim.everything,
    )
