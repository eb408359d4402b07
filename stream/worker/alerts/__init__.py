"""Sentiment and volume alerts: a pure detector, an idempotent Redis store and the worker hook."""
