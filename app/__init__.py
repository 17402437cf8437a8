"""The hazewarn service shell: settings, storage, HTTP API, CLI, scheduler, dashboard."""
