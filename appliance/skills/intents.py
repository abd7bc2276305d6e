"""``SkillIntents``: the skills' :class:`~appliance.voice.reply.IntentMatcher`, checked before home control and the LLM.

``match`` only reads words (and, for refusals decided from words alone, the
limits); everything that changes the world runs in the returned intent's
``action``, which the reply runs only once the request is committed.
A request recognised but not completable gets its own spoken answer
("I didn't catch how long."), never None, so it never reaches the LLM.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from appliance.skills.intents_alarms import match_alarm
from appliance.skills.intents_answers import (
    match_calc,
    match_clock,
    match_device,
    match_list,
)
from appliance.skills.intents_reminders import match_reminder
from appliance.skills.intents_schedule import match_timer
from appliance.skills.phrasing import clean
from appliance.skills.voice import SkillContext
from appliance.voice.reply import Intent

_LOGGER = logging.getLogger(__name__)

Recognizer = Callable[[SkillContext, str], "Intent | None"]
RECOGNIZERS: tuple[Recognizer, ...] = (
    match_device, match_list, match_reminder, match_alarm, match_timer, match_clock, match_calc,
)  # fmt: skip
"""In this order: lists before timers ('add eggs to the list'), reminders before alarms ('remind me … alarm')."""


class SkillIntents:
    """Timers, alarms, reminders, clock, arithmetic, units, lists and device control by voice."""

    def __init__(self, context: SkillContext) -> None:
        self.context = context

    def match(self, text: str) -> Intent | None:
        """The skill intent for ``text``, or None if no skill recognises it."""
        said = clean(text)
        if not said or len(said) > 300:
            return None
        for recognise in RECOGNIZERS:
            intent = recognise(self.context, said)
            if intent is not None:
                _LOGGER.debug("Skill intent %s for %r", intent.name, said)
                return intent
        return None
