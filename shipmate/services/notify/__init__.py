"""Notification delivery: the event log is the outbox, a worker sends it through Apprise."""
