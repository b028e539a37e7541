"""``shipmate demo``: a story of deployments on SQLite, a live blue-green deploy, a roll-forward."""
