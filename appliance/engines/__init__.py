"""One adapter per engine: wake word, VAD, end of turn, speech-to-text, the LLM, text-to-speech."""
