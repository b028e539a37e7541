"""The ``plan`` and ``release`` commands."""
