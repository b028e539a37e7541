"""The ``versions`` and ``drain`` commands."""
