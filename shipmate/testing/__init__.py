"""Helpers for tests and benchmarks: throwaway databases, a settable clock."""
