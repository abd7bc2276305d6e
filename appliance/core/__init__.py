"""The vocabulary every stage shares: events, errors, the bus, hand-offs, workers, the sentence chunker."""
