"""Terminal output: aligned tables and short number formats (``--json`` bypasses all of this)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Column = tuple[str, str, Callable[[Any], str]]


def num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else str(value)


def signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def text(value: Any) -> str:
    return "" if value is None else str(value)


def clip(width: int) -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        s = " ".join(str(value).split())
        return s if len(s) <= width else s[:width - 1] + "…"
    return fmt


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    """Columns aligned to their widest cell; numbers right-aligned, text left-aligned."""
    cells = [[fmt(row.get(key)) for _, key, fmt in columns] for row in rows]
    heads = [head for head, _, _ in columns]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(heads)]
    right = [fmt in (num, signed, pct) for _, _, fmt in columns]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right,
                                                                      strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(heads), line(["-" * w for w in widths]), *map(line, cells)])


def pairs(items: Sequence[tuple[str, str]]) -> str:
    """``label  value`` lines with the labels aligned."""
    width = max(len(k) for k, _ in items)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in items)


def languages(mix: dict[str, int], most: int = 8) -> str:
    """``en 120 · de 30 · +2 more`` (busiest first, as the reader orders them)."""
    if not mix:
        return "–"
    shown = " · ".join(f"{code} {num(n)}" for code, n in list(mix.items())[:most])
    return shown + (f" · +{len(mix) - most} more" if len(mix) > most else "")


BRAND_COLUMNS: list[Column] = [
    ("brand", "brand", text), ("posts", "n", num), ("neg", "negative", num),
    ("neu", "neutral", num), ("pos", "positive", num), ("NSS", "nss", signed),
    ("intensity", "mean_intensity", signed), ("share", "share_of_voice", pct),
    ("authors", "unique_authors", num), ("reposts", "reposts", num),
    ("last seen", "last_seen", text),
]

TIMELINE_COLUMNS: list[Column] = [
    ("bucket", "time", text), ("posts", "n", num), ("neg", "negative", num),
    ("neu", "neutral", num), ("pos", "positive", num), ("NSS", "nss", signed),
    ("intensity", "mean_intensity", signed), ("authors", "unique_authors", num),
    ("reposts", "reposts", num), ("languages", "languages", languages),
]

POST_COLUMNS: list[Column] = [
    ("intensity", "intensity", signed), ("created", "time", text),
    ("id", "id", clip(24)), ("text", "text", clip(80)),
]

def drivers(value: Any) -> str:
    """An alert's drivers, its side's terms: "battery, update" (older alerts have none)."""
    if not isinstance(value, dict):
        return ""
    side = value.get(value.get("side") or "negative") or []
    return ", ".join(str(d.get("term")) for d in side if isinstance(d, dict))


ALERT_COLUMNS: list[Column] = [
    ("bucket", "time", text), ("brand", "brand", text), ("kind", "kind", text),
    ("value", "value", signed), ("baseline", "baseline", signed), ("z", "z", signed),
    ("posts", "n", num), ("drivers", "drivers", drivers),
]


def alert_examples(rows: Sequence[dict[str, Any]]) -> str:
    """The example posts of alerts, under the table: `brand · term: "text" (id)`."""
    lines = []
    for row in rows:
        for ex in row.get("examples") or []:
            lines.append(f"  {row.get('brand')} · {ex.get('term')}: "
                         f"\"{clip(90)(ex.get('text'))}\" ({ex.get('id')})")
    return "\n".join(lines)


WHY_COLUMNS: list[Column] = [
    ("term", "term", clip(30)), ("z", "z", signed), ("posts", "count", num),
    ("example", "example", clip(70)),
]


def why(data: dict[str, Any]) -> str:
    """Negative then positive drivers, one line per term with its first example."""
    parts = [f"why {data['brand']} moved over the last {data['window']} (whole hours)"]
    for name in ("negative", "positive"):
        rows = [{**d, "example": d["examples"][0]["text"] if d["examples"] else ""}
                for d in data[name]]
        body = table(rows, WHY_COLUMNS) if rows else "(no term stands out)"
        parts.append(f"{name} drivers\n{body}")
    return "\n\n".join(parts)
