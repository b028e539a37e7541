"""The ``deploy``, ``rollback`` and ``runs`` commands, and their live progress."""
