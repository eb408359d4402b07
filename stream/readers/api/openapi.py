"""The OpenAPI 3.1 description of the API, served at /openapi.json (written by hand, kept short)."""

from __future__ import annotations

from typing import Any

from sentistream import __version__


def _param(name: str, description: str, required: bool = False,
           example: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if example is not None:
        schema["example"] = example
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema}


BRAND = _param("brand", "Brand name as listed by /api/brands (any characters; sent URL-encoded).",
               True, "apple")
WINDOW = _param("window", "Rolling window: a number and m, h, d or w (15m, 1h, 24h, 7d). "
                "Default 15m (top: 1h).", example="15m")
AT = _param("at", "End of the window: ISO-8601, epoch seconds, 'now' or -2h. Default now.")
LANG = _param("lang", "Only posts in this language: an ISO 639 code of 2 or 3 letters (en, de, "
              "pt; und = undetermined). Default: every language.", example="en")
LIMIT = _param("limit", "How many items, 1..100 (alerts 1..1000).", example="5")

ERROR = {"description": "Bad request or Host, unknown brand, missing token or Redis down",
         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _get(summary: str, params: list[dict[str, Any]], result: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": params, "responses": {
        "200": {"description": result, "content": {"application/json": {}}},
        "400": ERROR, "401": ERROR, "404": ERROR, "503": ERROR}}}


def openapi_document(secured: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "sentistream API", "version": __version__,
                 "description": "Live per-brand sentiment read from the Redis aggregates. "
                 "NSS = (positive - negative) / scored posts (posts in languages the model "
                 "does not score count in n, unsupported_language and languages only); mean "
                 "intensity in [-1, 1]; share of "
                 "voice = the brand's posts / all brands' posts in the window."},
        "paths": {
            "/health": _get("Public: {status: ok} (200) or {status: unavailable} (503) when "
                            "Redis does not answer; nothing else", [], "ok"),
            "/api/brands": _get("The busiest brands of a window, one page: counts, NSS, "
                                "intensity, share of voice", [
                WINDOW, AT, LANG,
                _param("limit", "Brands per page, 1..1000 (default 20).", example="20"),
                _param("offset", "Brands to skip: the previous page's next_offset (default 0).",
                       example="0"),
            ], "{window, brands (busiest first, ties by name), total (brands with posts in "
               "the window), offset, limit, next_offset (null on the last page)}"),
            "/api/query": _get("One brand's summary over a window, with its language mix",
                               [BRAND, WINDOW, AT, LANG],
                               "summary"),
            "/api/timeline": _get("A brand's buckets between two times (empty ones included)", [
                BRAND, _param("resolution", "1m, 1h or 1d (default 1m)", example="1m"),
                _param("from", "Start: ISO-8601, epoch s or -2h. Default: 1h/48h/30d before "
                       "'to'."),
                _param("to", "Exclusive end. Default now."), LANG,
            ], "buckets, at most 1500"),
            "/api/top": _get("Most positive and most negative posts (whole hours)",
                             [BRAND, WINDOW, LIMIT, AT], "posts"),
            "/api/why": _get("Why sentiment moved: the terms most over-represented in the "
                             "brand's negative and positive posts of the window (whole hours, "
                             "at most 7d) against its own baseline (log-odds with an "
                             "informative Dirichlet prior)", [
                BRAND, _param("window", "Rolling window up to 7d (default 1h).", example="1h"),
                AT], "{brand, window, negative: [{term, z, count, examples: [{id, text}]}], "
                     "positive: [...]}"),
            "/api/alerts": _get("Alerts, newest first (each with its drivers and examples)", [
                _param("brand", "Only this brand"), LIMIT,
                _param("since", "Only alerts of buckets from this time on")], "alerts"),
            "/api/live": {"get": {
                "summary": "Server-Sent Events of live changes",
                "description": "Events `hello`, `update` (data: {at, brands: {brand: {n, neg, "
                "neu, pos, isum_e6, minutes}}}), `alert` (data: {at, brands: {}, alerts: [...]})"
                " and `resync` (re-read the aggregates: the missed events were too many to "
                "resend). An announcement too large for api_live_event_max_bytes arrives as "
                "{at, truncated: true, brands: {_all: ...}, brands_changed}. Event ids are "
                "Redis stream ids, so Last-Event-ID resumes (at most api_live_replay_max "
                "events). With a token: the Authorization header, or ?ticket= from POST "
                "/api/live/ticket (EventSource cannot send headers); never ?token=. 429/503: "
                "too many streams from this address / on this server (Retry-After).",
                "parameters": [_param("brand", "Only changes of this brand"),
                               _param("ticket", "A ticket from POST /api/live/ticket")],
                "responses": {"200": {"description": "event stream",
                                      "content": {"text/event-stream": {}}},
                              "401": ERROR, "404": ERROR, "429": ERROR, "503": ERROR}}},
            "/api/live/ticket": {"post": {
                "summary": "A short-lived ticket that opens /api/live",
                "description": "Needs the Authorization header like every /api route; the "
                "ticket (HMAC-signed expiry) is valid for api_ticket_ttl_s (60 s) and opens "
                "only /api/live.",
                "responses": {"200": {"description": "{ticket, expires_in}",
                                      "content": {"application/json": {}}},
                              "401": ERROR}}},
            "/api/metrics": {"get": {
                "summary": "Prometheus metrics of this API server (live-stream limits at work)",
                "responses": {"200": {"description": "Prometheus text format",
                                      "content": {"text/plain": {}}}, "401": ERROR}}},
        },
        "components": {"schemas": {"Error": {
            "type": "object", "required": ["error", "status"],
            "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}}}},
    }
    if secured:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc
