"""Everyday skills: timers, alarms, reminders, clock and calendar, arithmetic and units, lists; exact, no LLM."""
