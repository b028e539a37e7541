"""The ``dora`` and ``changelog`` commands."""
