"""Raw rows to posts: which column is the text, the time, the id, the brand, the author.

Defaults fit most exports (``text``, ``created_at``/``date``, ``id``, ``brand``/``query``/
``topic``); presets cover the Sentiment140 and TweetEval layouts; anything else is mapped with
options. A row without an id gets one derived from its content, so a replay is recognisable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from producers.errors import MappingError
from producers.records import content_id
from producers.rows import RawBatch
from sentistream.times import BadTimestamp, parse_timestamp

ROLES = ("text", "time", "id", "brand", "author")
DEFAULT_CANDIDATES: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "time": ("created_at", "date"),
    "id": ("id",),
    "brand": ("brand", "query", "topic"),
    "author": ("author", "user"),
}


@dataclass(frozen=True)
class ColumnMap:
    """Column names per role (None: the first default candidate present), and CSV reading hints."""

    text: str | None = None
    time: str | None = None
    id: str | None = None
    brand: str | None = None
    author: str | None = None
    fieldnames: tuple[str, ...] | None = None  # for CSV files without a header line
    encoding: str = "utf-8"
    keep_extra: bool = True  # unmapped columns (labels...) travel along in the post

    def with_overrides(self, text: str | None = None, time: str | None = None,
                       id: str | None = None, brand: str | None = None,
                       author: str | None = None) -> ColumnMap:
        """This map with the roles given on the command line replaced."""
        return replace(self, text=text or self.text, time=time or self.time, id=id or self.id,
                       brand=brand or self.brand, author=author or self.author)


PRESETS: dict[str, ColumnMap] = {
    # Stanford's files: polarity,id,date,query,user,text; no header; Latin-1.
    "sentiment140": ColumnMap(text="text", time="date", id="id", brand="query", author="user",
                              fieldnames=("polarity", "id", "date", "query", "user", "text"),
                              encoding="latin-1"),
    # text,label,label_id,semeval_id,created_at,topic[,semeval_file,recon]
    "tweeteval": ColumnMap(text="text", time="created_at", id="semeval_id", brand="topic"),
}


@dataclass
class PostBatch:
    """Posts (without ``created_at`` yet), their epoch times (None: no time) and source lines."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    times: list[float | None] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    bad: list[tuple[int, str, str]] = field(default_factory=list)
    size: int = 0  # input bytes of the rows it came from, to bound what a replay buffers

    def __len__(self) -> int:
        return len(self.posts)


class Mapper:
    """Resolves the column map against the first row, then maps whole batches."""

    def __init__(self, columns: ColumnMap) -> None:
        self.columns = columns
        self._resolved: dict[str, str | None] | None = None

    def resolve(self, keys: Sequence[str]) -> dict[str, str | None]:
        present = set(keys)
        resolved: dict[str, str | None] = {}
        for role in ROLES:
            explicit = getattr(self.columns, role)
            if explicit is not None:
                if explicit not in present:
                    raise MappingError(
                        f"no column {explicit!r} for the {role}; the input has: "
                        f"{', '.join(sorted(present)) or 'no columns'}")
                resolved[role] = explicit
            else:
                resolved[role] = next((c for c in DEFAULT_CANDIDATES[role] if c in present), None)
        if resolved["text"] is None:
            raise MappingError(f"no text column among {', '.join(sorted(present))}; "
                               "name it with --text-column")
        return resolved

    def map(self, raw: RawBatch) -> PostBatch:
        """Posts and bad rows of one batch; consumes it (its row dicts become the posts)."""
        out = PostBatch(bad=list(raw.bad), size=raw.size)
        if not raw.rows:
            return out
        if self._resolved is None:
            self._resolved = self.resolve(list(raw.rows[0]))
        cols = self._resolved
        text_c, time_c, id_c = cols["text"], cols["time"], cols["id"]
        brand_c, author_c = cols["brand"], cols["author"]
        mapped = [c for c in dict.fromkeys(cols.values()) if c is not None]
        keep = self.columns.keep_extra
        assert text_c is not None  # resolve() guarantees a text column
        for line, row in zip(raw.lines, raw.rows, strict=True):
            text = row.get(text_c)
            if not isinstance(text, str) or not text or text.isspace():
                out.bad.append((line, "missing text", _show(row)))
                continue
            if "\ufffd" in text:
                out.bad.append((line, "text is not valid in the file's encoding "
                                "(try --encoding latin-1)", text[:120]))
                continue
            raw_time = row.get(time_c) if time_c else None
            when: float | None = None
            if raw_time is not None and raw_time != "":
                try:
                    when = parse_timestamp(raw_time)
                except BadTimestamp as exc:
                    out.bad.append((line, str(exc), _show(row)))
                    continue
            author = row.get(author_c) if author_c else None
            post_id = row.get(id_c) if id_c else None
            brand = row.get(brand_c) if brand_c else None
            # The row dict is ours (fresh from the reader): it becomes the post, which keeps the
            # unmapped columns without copying them into a new dict.
            if keep:
                post = row
                for column in mapped:
                    post.pop(column, None)
            else:
                post = {}
            if post_id is None or post_id == "":
                post_id = content_id(text, str(raw_time or ""), str(author or ""))
            post["id"] = post_id if isinstance(post_id, str) else str(post_id)
            post["text"] = text
            if brand is not None and brand != "":
                post["brand"] = brand if isinstance(brand, str) else str(brand)
            if author is not None and author != "":
                post["author"] = author if isinstance(author, str) else str(author)
            out.posts.append(post)
            out.times.append(when)
            out.lines.append(line)
        out.bad.sort()  # parse errors and mapping errors of a batch, in file order
        return out


def _show(row: dict[str, Any]) -> str:
    return str(row)[:120]
