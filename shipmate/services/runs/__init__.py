"""Runs: the journal, the driver and its step executors, progress, resume and the keep-warm watch."""
