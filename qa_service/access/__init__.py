"""Who may call what: API keys, roles, team scope and web UI logins."""
