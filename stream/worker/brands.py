"""Which brands a post is about: an explicit ``brand``/``brands`` field, else its text.

The brands file (YAML or JSON) maps each brand to aliases, #hashtags and @handles. All of them are
matched case-insensitively on word boundaries; a whole batch is split into words by a single
regex pass over the joined texts. ``BrandsFile`` reloads the file when its
mtime changes, so brands change without a code change or a restart.
"""

from __future__ import annotations

import logging
import os
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import compress
from pathlib import Path
from typing import Any

import yaml

from stream.errors import BrandsFileError
from stream.schema.keys import RESERVED_BRANDS

log = logging.getLogger(__name__)

_SEP = "\x00"  # joins the texts of a batch; a token of its own, so no match spans two posts
# Words first: the alternatives start on disjoint characters (a word character, # or @, NUL),
# so their order changes no match, and trying the common one first is ~6% faster.
_TOKEN = re.compile(r"\w+|(?<!\w)[#@]\w+|\x00")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Brand:
    name: str
    aliases: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()


def default_brands_path() -> Path:
    return Path(str(resources.files("stream.worker") / "resources" / "brands.yaml"))


def load_brands(path: Path) -> list[Brand]:
    """Read a brands file: ``{"brands": {name: {aliases: [], hashtags: [], handles: []}}}``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BrandsFileError(f"cannot read brands file {path}: {exc}") from exc
    table = data.get("brands") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise BrandsFileError(f"brands file {path} needs a top-level mapping 'brands:'")
    return [_brand(path, name, spec) for name, spec in table.items()]


def _brand(path: Path, name: Any, spec: Any) -> Brand:
    if not isinstance(name, str) or not name.strip() or name.strip().lower() in RESERVED_BRANDS:
        raise BrandsFileError(f"brands file {path}: {name!r} is not a usable brand name")
    spec = spec or {}
    if not isinstance(spec, dict):
        raise BrandsFileError(f"brands file {path}: brand {name!r} must map to a mapping")
    lists = {}
    for kind in ("aliases", "hashtags", "handles"):
        values = spec.get(kind) or []
        if not isinstance(values, list) or not all(isinstance(v, str) and v.strip()
                                                   for v in values):
            raise BrandsFileError(f"brands file {path}: {name}.{kind} must be a list of strings")
        lists[kind] = tuple(v.strip().lstrip("#@").lower() for v in values)
    return Brand(name.strip().lower(), lists["aliases"], lists["hashtags"], lists["handles"])


class BrandMatcher:
    """Matches a batch of texts against one set of brands.

    Matching is on words: the batch is lower-cased and split into ``[#@]?\\w+`` tokens by one
    regex pass in C, then each token is one dict lookup (a regex alternation of every alias runs
    ~40x slower). Punctuation inside an alias counts as a word break ("at&t" matches "AT&T").
    """

    def __init__(self, brands: Sequence[Brand]) -> None:
        self.definitions = tuple(brands)  # their names are left out of their driver terms
        self._single: dict[str, str] = {}  # token -> brand
        self._multi: dict[str, list[tuple[tuple[str, ...], str]]] = {}  # first word -> rests
        self._canonical: dict[str, str] = {}
        for brand in brands:
            for alias in sorted({brand.name, *brand.aliases}):
                words = tuple(_WORD.findall(alias.lower()))
                if len(words) == 1:
                    for prefix in ("", "#", "@"):  # "#apple" and "@apple" mention apple too
                        self._single.setdefault(prefix + words[0], brand.name)
                elif words:
                    self._multi.setdefault(words[0], []).append((words[1:], brand.name))
                self._canonical.setdefault(alias, brand.name)
            for tag in brand.hashtags:
                self._single.setdefault("#" + tag, brand.name)
                self._canonical.setdefault(tag, brand.name)
            for handle in brand.handles:
                self._single.setdefault("@" + handle, brand.name)
                self._canonical.setdefault(handle, brand.name)
        self.brands = tuple(b.name for b in brands)
        self._known = frozenset(self.brands)
        # Every token that needs a look: one that names or starts a brand.
        self._starts = frozenset((*self._single, *self._multi))

    def canonical(self, name: str) -> str:
        """An explicit brand as its brand-file name when it is a known alias, else lower-cased."""
        key = name.strip().lstrip("#@").lower()
        return self._canonical.get(key, key)

    def match_texts(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        """The brands mentioned in each text (sorted, no duplicates); one regex pass per batch.

        Tokens are looked up with ``map`` and ``compress`` (C); Python only visits the tokens
        that start a brand name, a few per batch instead of every word (brands were 8% of the
        worker's time with a Python step per token), and finds each one's post by bisecting
        the separators' positions."""
        if not texts:
            return []
        joined = _SEP.join(texts)
        if joined.count(_SEP) != len(texts) - 1:  # a text with NUL in it would shift the posts
            joined = _SEP.join(t.replace(_SEP, " ") for t in texts)
        tokens = _TOKEN.findall(joined.lower())
        positions = range(len(tokens))
        separators = list(compress(positions, map(_SEP.__eq__, tokens)))
        found: dict[int, set[str]] = {}
        for i in compress(positions, map(self._starts.__contains__, tokens)):
            post = bisect_right(separators, i)
            brand = self._single.get(tokens[i])
            if brand is not None:
                found.setdefault(post, set()).add(brand)
            for rest, name in self._multi.get(tokens[i], ()):
                if tuple(tokens[i + 1:i + 1 + len(rest)]) == rest:
                    found.setdefault(post, set()).add(name)
        out: list[tuple[str, ...]] = [()] * len(texts)
        for post, names in found.items():
            out[post] = tuple(sorted(names))
        return out

    def brands_of(self, texts: Sequence[str], explicit: Sequence[tuple[str, ...] | None],
                  known_only: bool = False) -> list[tuple[str, ...]]:
        """Brands per post: the explicit field when present (it wins), else the text matches
        (only the posts without an explicit field are matched). ``known_only``: explicit names
        that are not brands of the file are dropped (SENTISTREAM_EXPLICIT_BRANDS=file)."""
        unmatched = [i for i, names in enumerate(explicit) if names is None]
        matched = iter(self.match_texts([texts[i] for i in unmatched]) if unmatched else ())
        out = []
        resolved: dict[tuple[str, ...], tuple[str, ...]] = {}  # once per distinct field value
        for names in explicit:
            if names is None:
                out.append(next(matched))
                continue
            found = resolved.get(names)
            if found is None:
                canon = {self.canonical(n) for n in names} - RESERVED_BRANDS
                if known_only:
                    canon &= self._known
                found = resolved[names] = tuple(sorted(canon))
            out.append(found)
        return out


class BrandsFile:
    """A brands file that is re-read when its mtime changes; a broken edit keeps the old brands."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_brands_path()
        self._mtime = self._stat()
        self.matcher = BrandMatcher(load_brands(self.path))

    def _stat(self) -> int:
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError as exc:
            raise BrandsFileError(f"brands file {self.path} is not readable: {exc}") from exc

    def current(self) -> BrandMatcher:
        """The matcher for the file as it is now (one stat per call: call it once per batch)."""
        try:
            mtime = self._stat()
            if mtime != self._mtime:
                self._mtime = mtime
                self.matcher = BrandMatcher(load_brands(self.path))
                log.warning("reloaded brands file %s: %d brands", self.path,
                            len(self.matcher.brands))
        except BrandsFileError as exc:
            log.error("%s; keeping the previous %d brands", exc, len(self.matcher.brands))
        return self.matcher
