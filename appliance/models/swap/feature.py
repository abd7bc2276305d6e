"""The model swaps as a feature: ``models.use``, ``models.rollback``, ``models.history`` and their status.

The commands are named ``models.*`` so the MQTT allowlist (``mqtt.allowed_commands``)
keeps them off MQTT unless the owner opts in; the socket and CLI always have them.
Over MQTT (:func:`for_remote`) every refusal of the named model answers one code,
``model-unusable``: the detailed codes would tell a broker client which paths exist
on the box and what they hold.  The daemon's log keeps the detail.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from appliance.control import args as a
from appliance.control.commands import Handler
from appliance.core.errors import ApplianceError, CommandError
from appliance.core.feature import Feature
from appliance.models.swap.swapper import ModelSwapper
from appliance.settings import Settings

_LOGGER = logging.getLogger(__name__)

MAX_MODEL_REF = 1000
"""Characters accepted in a model name or path."""
UNUSABLE = frozenset(
    {
        "model-missing",
        "model-wrong-kind",
        "model-corrupt",
        "model-not-regular",
        "model-unreadable",
        "model-out-of-range",
        "model-over-budget",
        "model-too-slow",
        "model-probe-failed",
    }
)
"""Refusals about the named model itself: over MQTT they all answer ``model-unusable``."""

Execute = Callable[[str, Mapping[str, Any]], Awaitable[dict[str, Any]]]


def for_remote(execute: Execute) -> Execute:
    """``execute`` for MQTT: a ``models.*`` refusal of the model itself answers ``model-unusable``, nothing more."""

    async def remote(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return await execute(name, args)
        except ApplianceError as err:
            if not name.startswith("models.") or err.code not in UNUSABLE:
                raise
            _LOGGER.warning("MQTT %s refused (answered model-unusable): %s", name, err)
            raise CommandError("model-unusable", "that model cannot be used on this appliance") from None

    return remote


class ModelsFeature(Feature):
    """Live swaps of the LLM, STT, TTS and wake models, remembered across restarts."""

    name = "model_swap"

    def __init__(self, swapper: ModelSwapper) -> None:
        self.swapper = swapper

    def commands(self) -> Mapping[str, Handler]:
        return {"models.use": self.use, "models.rollback": self.rollback, "models.history": self.history}

    def status(self) -> Mapping[str, Any]:
        return self.swapper.status()

    def apply(self, settings: Settings) -> list[str]:
        """The STT and TTS sections a reload swapped (their engines were built with the new settings)."""
        return [role for role in self.swapper.reloaded if role in ("stt", "tts")]

    async def use(self, args: Mapping[str, Any]) -> dict[str, Any]:
        role = a.text(args, "role", max_len=40)
        model = a.text(args, "model", max_len=MAX_MODEL_REF)
        return {"swapped": await self.swapper.use(role, model)}

    async def rollback(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"swapped": await self.swapper.rollback(a.text(args, "role", max_len=40))}

    async def history(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"history": self.swapper.history(), "running": self.swapper.status()}
