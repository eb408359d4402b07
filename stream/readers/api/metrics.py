"""Prometheus metrics of one API server (its live-stream bounds at work), served on /api/metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.live_streams = Gauge("sentistream_api_live_streams", "open live streams (SSE)",
                                  registry=r)
        self.live_queued_bytes = Gauge("sentistream_api_live_queued_bytes",
                                       "bytes queued for all live clients", registry=r)
        self.live_rejected = Counter(
            "sentistream_api_live_rejected", "live streams refused by a limit "
            "(server_full: api_live_max_streams, client_full: ..._per_client)", ["reason"],
            registry=r)
        self.live_dropped = Counter(
            "sentistream_api_live_dropped", "live clients dropped because they stopped reading "
            "(queue_full: api_live_queue_bytes, write_timeout: api_live_write_timeout_s)",
            ["reason"], registry=r)
        self.live_events = Counter("sentistream_api_live_events",
                                   "announcements read from the live stream", registry=r)
        self.live_compacted = Counter(
            "sentistream_api_live_compacted",
            "announcements larger than api_live_event_max_bytes, sent as a compact hint",
            registry=r)
        self.live_replayed = Counter("sentistream_api_live_replayed",
                                     "events resent after a Last-Event-ID", registry=r)
        self.live_resyncs = Counter(
            "sentistream_api_live_resyncs", "replays cut short by api_live_replay_max or "
            "trimming: the client was told to re-read (event resync)", registry=r)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
