"""The read side: queries over the Redis aggregates, shared by the CLI, the API and the alerts."""
