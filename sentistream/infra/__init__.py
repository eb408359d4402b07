"""Local infrastructure without Docker: a single-node KRaft Kafka and a Redis server."""
