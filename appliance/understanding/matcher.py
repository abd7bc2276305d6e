"""``SentenceMatcher``: the pipeline's first :class:`~appliance.voice.reply.IntentMatcher`, on maintained sentences.

``match`` cleans the transcript, keeps the slot lists current (devices when they
are set, timer names when the running timers change: never rebuilt per request),
asks the :class:`~.sentences.SentenceLibrary` for the best sentence, and maps it
onto the appliance's own intent (:mod:`.mapping`).  It reads words only; what
changes the world runs in the intent's action once the request is committed.
It never raises: anything unexpected is logged and the request goes on to the
appliance's own rules.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from appliance.skills.engine import LIST_ALIASES
from appliance.skills.phrasing import clean
from appliance.understanding.mapping import Ports, to_intent
from appliance.understanding.sentences import Recognition, SentenceLibrary
from appliance.understanding.vocabulary import (
    NamedDevice,
    Vocabulary,
    device_words,
    list_words,
    slot_lists,
    text_list,
)
from appliance.voice.reply import Intent

_LOGGER = logging.getLogger(__name__)


class SentenceMatcher:
    """Home Assistant's sentences for the configured language, acting through the appliance's own actions."""

    def __init__(self, library: SentenceLibrary, ports: Ports, *, devices: Iterable[NamedDevice] = ()) -> None:
        self.library = library
        self.ports = ports
        self.vocabulary = Vocabulary()
        self.set_devices(devices)

    def set_devices(self, devices: Iterable[NamedDevice]) -> None:
        """Take a new set of devices (start, reload): rebuilds every slot list once."""
        extra = (self.ports.own_area,) if self.ports.own_area.strip() else ()
        self.vocabulary = Vocabulary(device_words(devices), list_words(LIST_ALIASES), self._timers(), extra)
        self.library.slot_lists = slot_lists(self.vocabulary)

    def match(self, text: str) -> Intent | None:
        """The appliance's intent for ``text`` if a maintained sentence says it, else None."""
        try:
            found = self.recognize(text)
            intent = None if found is None else to_intent(self.ports, found)
        except Exception:  # never cost a turn: the appliance's own rules still get the request
            _LOGGER.exception("Understanding a request failed (%d characters)", len(text))
            return None
        if intent is not None:
            _LOGGER.debug("Sentence %s → %s %s", found.intent if found else "", intent.name, intent.data)
        return intent

    def recognize(self, text: str) -> Recognition | None:
        """The matched sentence for ``text`` (cleaned as the language needs), or None."""
        said = clean(text) if self.library.language == "en" else " ".join(text.split())
        if not said:
            return None
        self._refresh_timers()
        return self.library.recognize(said)

    def _timers(self) -> tuple[str, ...]:
        ctx = self.ports.skills
        if ctx is None:
            return ()
        return tuple(sorted({t.name.strip().lower() for t in ctx.skills.timers() if t.name.strip()}))

    def _refresh_timers(self) -> None:
        timers = self._timers()
        if timers != self.vocabulary.timers:  # a timer started or ended since the last request
            self.vocabulary = replace(self.vocabulary, timers=timers)
            self.library.slot_lists = {**self.library.slot_lists, "timer_name": text_list("timer_name", timers)}
