"""Rollouts across several hosts: the server coordinates one run per host."""
