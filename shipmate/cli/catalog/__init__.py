"""The ``products`` and ``envs`` commands: list, rename, merge, archive, unarchive."""
