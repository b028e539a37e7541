"""Where CLI commands send their calls: the local database, or a server (remote mode)."""
