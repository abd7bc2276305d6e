"""This appliance as an Assist satellite of Home Assistant, over the ESPHome native API.

Home Assistant's ``esphome`` integration connects to it as to an ESPHome voice device
(``[esphome]``, off by default, docs/esphome.md):

- :mod:`.messages` maps wire numbers to ``aioesphomeapi``'s protobuf classes;
- :mod:`.framing` reads plaintext frames within bounds and picks the framing, :mod:`.noise`
  the encrypted one (``Noise_NNpsk0_25519_ChaChaPoly_SHA256`` with the API key);
- :mod:`.device` is what Home Assistant sees: identity, entities, states, wake words;
- :mod:`.media` fetches and decodes the audio Home Assistant asks to play, from it only;
- :mod:`.satellite` acts on the appliance (mute, volume, wake word, announcements, timers);
- :mod:`.relay` sends a spoken request to Home Assistant's pipeline (``pipeline = home_assistant``);
- :mod:`.session` is one connection, :mod:`.server` accepts them (capped);
- :mod:`.announce` advertises ``_esphomelib._tcp``, :mod:`.feature` plugs it into the daemon.
"""
