"""The readers: the query CLI, the HTTP API, the dashboard and the demo."""
