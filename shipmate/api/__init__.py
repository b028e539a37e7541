"""The HTTP adapter: shipmate's REST API, the bloqr- and Versioner-compatible endpoints."""
