"""The appliance's own sentences, in hassil's format, for what Home Assistant's do not say.

Home Assistant keeps no sentences for the day of the week, for reading a list
out, for telling everyone something ("tell everyone dinner is ready") or for
durations said the long way ("time an hour and a half"); these few templates
cover them, written for the appliance.  They are merged into the same library and
matched the same way; where a Home Assistant sentence matches too it wins
(:func:`hassil.recognize_best` prefers fewer wildcards and more literal words).
A ``{duration}`` is any words, kept only when the skills' duration parser reads
all of them (:func:`~appliance.understanding.mapping.duration_of`).
"""

from __future__ import annotations

from typing import Any

EXTRA: dict[str, dict[str, Any]] = {
    "en": {
        "intents": {
            "ApplianceGetWeekday": {
                "data": [
                    {
                        "sentences": [
                            "what day [of the week] is (it|today) [today]",
                            "(what's|whats|what is) [the] day [of the week] [today]",
                            "which day [of the week] is (it|today) [today]",
                            "(tell me|do you know) (the day [of the week]|what day [of the week] it is) [today]",
                            "what day are we on [today]",
                        ]
                    }
                ]
            },
            "ApplianceListShow": {
                "data": [
                    {
                        "sentences": [
                            "(what's|whats|what is) (on|in) [<the>] {name} [list]",
                            "(read|show|tell) [me] [out] [<the>] {name} list",
                            "(read|show|tell) me what's (on|in) [<the>] {name} [list]",
                            "what (do|did) (i|we) (have|put|need) (on|in) [<the>] {name} list",
                        ],
                        "requires_context": {"domain": ["todo"]},
                    }
                ]
            },
            "ApplianceBroadcast": {  # one room ("tell the kitchen …") is the rooms' own rule: it knows the rooms
                "data": [
                    {
                        "sentences": [
                            "(tell|announce to|let) (everyone|everybody|the whole house) [know] [that] {message}"
                        ]
                    }
                ]
            },
            "ApplianceStartTimer": {
                "data": [
                    {
                        "sentences": [
                            "time {duration}",
                            "count down [from] {duration}",
                            "<timer_set> [a|an|the|my] timer for {duration}",
                            "<timer_set> [a|an|the|my] {duration} timer",
                        ]
                    }
                ]
            },
        },
        "lists": {"duration": {"wildcard": True}},
    }
}
"""Per language: intents and lists merged into Home Assistant's (English only so far)."""
