"""The worker: Kafka fetches -> parse -> score -> brands -> exact aggregates in Redis."""
