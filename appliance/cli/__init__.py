"""Command-line subcommands that are more than a dispatch: converse, one-shot commands, doctor, models."""
