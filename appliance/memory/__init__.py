"""The appliance's memory: a SQLite store, hybrid retrieval, emotion, and the LLM's context."""
