"""Producers: replay historical datasets and feed live posts into Kafka."""
