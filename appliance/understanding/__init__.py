"""Understanding a request: text → the appliance's intent, from maintained sentence libraries first.

- :mod:`.sentences`: Home Assistant's intent sentences for one language, matched with hassil;
- :mod:`.vocabulary`: the slot lists (devices, areas, floors, lists, timers) from configuration and state;
- :mod:`.mapping`: a matched Home Assistant intent as the appliance's own, acting through the skills',
  home control's and the rooms' own actions;
- :mod:`.matcher`: the pipeline's :class:`~appliance.voice.reply.IntentMatcher` over the three;
- :mod:`.feature`: the matcher as a feature, tried before every other feature's intents.

docs/understanding.md explains the order of matchers.
"""
