"""The appliance's engines over the Wyoming protocol: speech-to-text, the voice, the wake word, the conversation.

Home Assistant (and any Wyoming client) reaches them on one TCP port, off by default
(``[wyoming]``, docs/wyoming.md):

- :mod:`.framing` reads one event at a time within bounds (header, data, payload, time);
- :mod:`.pcm` turns a client's audio into the 16 kHz mono int16 the engines take;
- :mod:`.describe` answers ``describe`` with what this appliance serves;
- :mod:`.services` transcribes, synthesizes, spots the wake word and hands text to the conversation;
- :mod:`.session` is one connection: its events dispatched to those services;
- :mod:`.server` accepts connections (capped), :mod:`.announce` advertises ``_wyoming._tcp``;
- :mod:`.feature` plugs it into the daemon and reports it in ``status``.
"""
