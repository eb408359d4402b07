"""The Faust pipeline: batched scoring of posts into exact per-brand aggregates in Redis."""
