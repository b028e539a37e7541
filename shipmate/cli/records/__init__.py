"""The record commands: ``version``, ``record``, ``history``, ``current``, ``show``, ``stats``, ..."""
