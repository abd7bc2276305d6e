"""The voice loop: the audio front end and its messages, the pipeline, turns, replies, the conversation."""
