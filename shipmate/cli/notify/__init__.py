"""The ``notifications`` commands."""
