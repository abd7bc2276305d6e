"""Live model swaps with rollback: check, budget, load beside, probe, swap between turns, remember."""
