"""Drain checks: how much in-flight work an old application version still has."""
