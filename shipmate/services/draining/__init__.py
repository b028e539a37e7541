"""Draining: version states, and retiring an old version only once its in-flight work is done."""
