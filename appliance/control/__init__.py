"""The command layer and its transports' shared parts: API, controller, commands, arguments, socket."""
