"""Home control as an intent matcher for the pipeline: the fast local path first, the LLM's tool call second.

``match`` runs on every request and must stay cheap (no model, no I/O): it
returns an :class:`~appliance.voice.reply.Intent` whose action runs only once the
request is committed, so a speculative transcript never switches anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from appliance.core.events import Event, IntentExecuted
from appliance.home.devices import DeviceDirectory
from appliance.home.phrases import SwitchRequest, parse_switch
from appliance.home.tools import ScoringModel, choose, worth_asking
from appliance.settings import HomeDevice
from appliance.voice.reply import Intent

Publisher = Callable[[str, str, bool], bool]
"""(topic, payload, retain) -> whether it went out."""


class HomeControl:
    """Turns "turn on the kitchen light" into an MQTT publication and a spoken confirmation."""

    def __init__(
        self,
        devices: tuple[HomeDevice, ...] | list[HomeDevice],
        *,
        publish: Publisher,
        report: Callable[[Event], None],
        model: ScoringModel | None = None,
    ) -> None:
        self.directory = DeviceDirectory(devices)
        self._publish = publish
        self._report = report
        self._model = model

    def match(self, text: str) -> Intent | None:
        """An intent for ``text``, or None to let the LLM answer it as conversation."""
        request = parse_switch(text)
        if request is not None:
            intent = self._fast(text, request)
            if intent is not None:
                return intent
        if self._model is not None:
            mentioned = self.directory.mentioned(text)
            if worth_asking(text, mentioned):
                return Intent(
                    "home_llm",
                    "Sorry, I could not work out which device to switch.",
                    self._ask_model(text, mentioned),
                    data={"candidates": [d.name for d in mentioned]},
                )
        return None

    def _fast(self, text: str, request: SwitchRequest) -> Intent | None:
        found = self.directory.resolve(request)
        if found.devices:
            names = [d.name for d in found.devices]
            action = self._switch_later(text, found.devices, request.action, "local")
            return Intent("home_switch", "", action, data={"devices": names, "action": request.action})
        if not request.explicit:  # "the party is on": not a device after all
            return None
        if found.ambiguous:
            return Intent("home_ambiguous", f"Which one do you mean: {_names(found.ambiguous, 'or')}?")
        return Intent("home_unknown", f"I don't know a device called {request.spoken_target}.")

    def _switch_later(
        self, text: str, devices: list[HomeDevice], action: str, via: str
    ) -> Callable[[], Awaitable[str | None]]:
        async def act() -> str | None:
            return self.switch(text, devices, action, via)

        return act

    def _ask_model(self, text: str, mentioned: list[HomeDevice]) -> Callable[[], Awaitable[str | None]]:
        assert self._model is not None
        model = self._model

        async def act() -> str | None:
            call = await asyncio.to_thread(choose, model, text, mentioned)
            if call is None:  # the model was unsure: ask rather than guess
                return f"Sorry, I'm not sure whether you want {_names(mentioned, 'or')} on or off."
            return self.switch(text, [call.device], call.action, "llm")

        return act

    def switch(self, text: str, devices: list[HomeDevice], action: str, via: str) -> str:
        """Publish each device's payload; the sentence that says what was done."""
        done = []
        for device in devices:
            payload = device.payload_on if action == "on" else device.payload_off
            if self._publish(device.command_topic, payload, device.retain):
                done.append(device)
                self._report(
                    IntentExecuted(
                        intent="switch",
                        device=device.name,
                        action=action,
                        topic=device.command_topic,
                        payload=payload,
                        via=via,
                        text=text,
                    )
                )
        if not done:
            return f"I can't reach the home network right now, so I did not switch {_names(devices, 'or')}."
        missed = [d for d in devices if d not in done]
        said = f"I turned {action} {_names(done, 'and')}."
        return said + (f" I could not reach {_names(missed, 'or')}." if missed else "")


def _names(devices: list[HomeDevice], conjunction: str) -> str:
    names = [f"the {d.name}" for d in devices]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {conjunction} {names[-1]}"
