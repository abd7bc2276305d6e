"""Home Assistant over its WebSocket API: the home's exposed entities as devices, service calls, its agent.

- :mod:`.client`: one logged-in session (commands, results, events), on ``websockets``;
- :mod:`.entities`: registries, exposure and states → :class:`~appliance.home.assistant.HaDevice` (pure);
- :mod:`.link`: the session kept up (jittered reconnects), the states kept current, home control's ``Assistant``;
- :mod:`.feature`: the token file, the supervised loop and ``status``.

docs/home_assistant.md explains the set-up and the rules.
"""
