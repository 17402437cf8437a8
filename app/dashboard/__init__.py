"""The duty officers' dashboard: one page and its static assets, served by the API."""
