"""The appliance's own sentences, in hassil's format, for what Home Assistant's do not say.

Home Assistant keeps no sentences for the day of the week, for reading a list
out, for telling everyone something ("tell everyone dinner is ready") or for
durations said the long way ("time an hour and a half"); these few templates
cover them, written for the appliance.  They are merged into the same library and
matched the same way; where a Home Assistant sentence matches too it wins
(:func:`hassil.recognize_best` prefers fewer wildcards and more literal words).
Blocks under one of Home Assistant's own intents (``HassGetCurrentTime``, ``HassSetVolume``, …)
are added to its blocks and map as its do: ways of asking that its sentences leave out
("have you got the time", "volume to max", "carry on playing", "let the office know …").
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
                            "(tell me|do you know|remind me) the day [of the week] [today]",
                            "(tell me|do you know|remind me) what day [of the week] it is [today]",
                            "(tell me|do you know|remind me) (what|which) day (today is|we're on|we are on)",
                            "what day are we [on] [today]",
                            "what day [of the week] (is it|are we on) again",
                            "(today|it) is (what|which) day [of the week] [today]",
                            "(what|which) day's (it|today)",
                        ]
                    }
                ]
            },
            "HassGetCurrentTime": {  # added to Home Assistant's own; "thyme" is how Whisper often writes it
                "data": [
                    {
                        "sentences": [
                            "(check|tell me|give me|remind me [of]) the (time|thyme) [now|on you|there]",
                            "[have] [you] got the (time|thyme) [now|on you|there]",
                            "do you have the (time|thyme) [now|on you|there]",
                            "(tell me|remind me|do you know|any idea|got any idea) what (time|thyme) it is [now]",
                            "<what_is> the thyme [now]",
                            "what thyme is it [now]",
                            "what (o'clock|oclock|o clock) is it [now]",
                            "[give me|do|quick] [a] [quick] time check",
                            "what time (have we got|do we have|do you make it)",
                        ]
                    }
                ]
            },
            "HassGetCurrentDate": {
                "data": [
                    {
                        "sentences": [
                            "(tell me|remind me|do you know) (the date|what the date is|what date it is) [today]",
                            "(check|give me) the date [today]",
                            "(today|it) is (what|which) date [today]",
                        ]
                    }
                ]
            },
            "HassSetVolume": {  # a level said in words: "volume to max", "sound on half"
                "data": [
                    {
                        "sentences": [
                            "[<numeric_value_set>|put] [the] (volume|sound) (to|on|at|up to) [the] (max|maximum|full)",
                            "(max|maximum|full) (volume|sound)",
                            "[turn] (it|the volume|the sound|volume|sound) all the way up",
                        ],
                        "slots": {"volume_level": 100},
                    },
                    {
                        "sentences": [
                            "[<numeric_value_set>|put] [the] (volume|sound) (to|on|at) half[ ]way",
                            "[<numeric_value_set>|put] [the] (volume|sound) (to|on|at) half",
                            "half (volume|sound)",
                        ],
                        "slots": {"volume_level": 50},
                    },
                    {
                        "sentences": [
                            "put [the] (volume|sound) (on|at|to) {volume:volume_level}[([ ]%)| percent]",
                            "[<numeric_value_set>] [the] (volume|sound) on {volume:volume_level}[([ ]%)| percent]",
                        ]
                    },
                ]
            },
            "HassMediaUnpause": {
                "data": [
                    {
                        "sentences": [
                            "(carry on|continue|keep|go on|start) (playing|with the (music|song|track)) [again]",
                            "(continue|resume) (playback|playing)",
                        ]
                    }
                ]
            },
            "HassMediaPrevious": {"data": [{"sentences": ["[the] (previous|last) [one]", "back one (song|track)"]}]},
            "HassNevermind": {
                "data": [
                    {
                        "sentences": [
                            "(no|nah|actually|wait) [and] (cancel|never mind|nevermind|forget it) [that|it]",
                            "never mind [that|then]",
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
                            "(tell|announce to|let) (everyone|everybody|the whole house) [know] [that] {message}",
                            "(say|announce|broadcast|shout) to (everyone|everybody|the whole house|every room"
                            "|all [the] rooms) [that] {message}",
                        ]
                    },
                    {  # a room of this home by name: "let the office know lunch is ready"
                        "sentences": [
                            "(tell|let) [<the>] {area} (know|that|know that) {message}",
                            "(announce|broadcast|say) (in|to) [<the>] {area} [that] {message}",
                        ]
                    },
                ]
            },
            "ApplianceTellRoom": {  # "tell the kitchen I'm on my way": kept when the message opens with its subject
                "data": [{"sentences": ["tell [<the>] {area} {message}"]}]
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
