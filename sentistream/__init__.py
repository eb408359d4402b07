"""sentistream: real-time social-media sentiment, from Kafka to exact per-brand aggregates."""

__version__ = "0.1.0"
