"""Who may do what: API keys, product limits on shared things, dashboard sessions."""
