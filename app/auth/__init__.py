"""Identity: API keys, roles and scopes (who may read and write what)."""
