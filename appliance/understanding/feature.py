"""Understanding as a feature: the maintained-sentence matcher, tried before every other feature's intents.

The composition root (``runtime/features.py``) builds it after the skills and home
control, with their parts as :class:`~.mapping.Ports`, and puts it first in the
feature list, so a request Home Assistant's sentences cover is understood by them;
the skills' own rules (alarms, reminders, sums, units, what no sentence covers),
the memory, home control's own grammar and the LLM follow in their usual order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from appliance.core.feature import Feature
from appliance.understanding.mapping import Broadcast, Delegate, HomeHandler, Ports
from appliance.understanding.matcher import SentenceMatcher
from appliance.understanding.sentences import SentenceLibrary
from appliance.understanding.vocabulary import NamedDevice

if TYPE_CHECKING:
    from appliance.settings import Settings
    from appliance.skills.voice import SkillContext
    from appliance.voice.reply import IntentMatcher


class UnderstandingFeature(Feature):
    """Home Assistant's sentences in ``understanding.language``, acting through the appliance's own actions."""

    name = "understanding"

    def __init__(
        self,
        settings: Settings,
        *,
        skills: SkillContext | None,
        home: HomeHandler | None,
        broadcast: Broadcast | None = None,
        delegate: Delegate | None = None,
        remote: Callable[[], Iterable[NamedDevice]] | None = None,
    ) -> None:
        """``delegate`` and ``remote``: with Home Assistant, its agent and its entities as they are now."""
        cfg = settings.understanding
        self.enabled = cfg.sentences
        self.library = SentenceLibrary(cfg.language, with_home=home is not None, assistant=delegate is not None)
        ports = Ports(skills=skills, home=home, broadcast=broadcast, own_area=settings.rooms.area, delegate=delegate)
        self._remote = remote
        self.matcher = SentenceMatcher(self.library, ports, devices=self._devices(settings) if home else ())

    def _devices(self, settings: Settings) -> list[NamedDevice]:
        return [*settings.mqtt.devices, *(self._remote() if self._remote is not None else ())]

    def intents(self) -> Sequence[IntentMatcher]:
        return (self.matcher,) if self.enabled else ()

    def status(self) -> Mapping[str, Any] | None:
        vocabulary = self.matcher.vocabulary
        return {
            "sentences": self.enabled,
            "language": self.library.language,
            "intents": len(self.library.intents.intents),
            "devices": len(vocabulary.devices),
            "areas": len(vocabulary.areas),
            "broadcast": self.matcher.ports.broadcast is not None,
        }

    def apply(self, settings: Settings) -> list[str]:
        """Reloaded devices and areas fill the slot lists at once; a new language needs a restart."""
        self.enabled = settings.understanding.sentences
        self.matcher.ports.own_area = settings.rooms.area
        if self.matcher.ports.home is not None:
            self.matcher.set_devices(self._devices(settings))
        return ["understanding"] if settings.understanding.language == self.library.language else []
