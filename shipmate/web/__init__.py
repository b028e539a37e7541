"""The web dashboard: server-rendered pages built from the same service calls as the API."""
