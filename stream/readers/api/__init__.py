"""The HTTP API and dashboard server: JSON queries, a live SSE stream, an OpenAPI description."""
