"""The ``gates``, ``approve`` and ``unlock`` commands."""
