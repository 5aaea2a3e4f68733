"""Rendered map pages, kept per version of the layers they draw and served with an ETag.

A map page is a function of its kind and parameters, the stored layers it draws and the settings that change the
page (tiles, walking profiles, levels). Every write to a drawn layer moves its ``layer_versions`` counter (a
statement trigger, migrations 0002 and 0005), so a page rendered at one set of counters is the page for as long as
they stand: it is rendered once and then served from here. A folium page of the sample street takes 0.4-0.9 s of
CPU to build and render (3 s for the planner map with its circles and sites); serving it from here takes a lookup.

Bounded twice: at most ``max_entries`` pages and ``max_bytes`` of page bodies (with their gzip copies), least
recently used evicted first; a page larger than ``max_bytes`` is served but not kept. One entry per variant (kind,
parameters, settings): a page of newer counters replaces the older one, so stale versions do not pile up. Besides
the bodies it holds only their keys and, while a page is being rendered, one lock per key being rendered (at most
one per request in flight).

Concurrent first requests for one key render once: the others wait on that key's lock and are then served the
page. A page is kept only when the counters read after rendering still equal those read before (``still_current``):
no write to a drawn layer committed in between, so what was read is what those counters stand for.

Pages are cached per process and for everyone alike; when pages carry a user's scope, the scope belongs in the
variant, and responses stay ``private`` (see `CACHE_CONTROL`).
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# Browsers keep the page but ask every time (If-None-Match → 304 when unchanged); never in a shared cache: these
# pages will carry personal data once pages are scoped per user.
CACHE_CONTROL = "private, no-cache"


@dataclass(frozen=True)
class Page:
    body: bytes
    etag: str  # strong, quoted: a hash of the body
    gzipped: bytes  # the body compressed once, for every client that accepts gzip (a tenth of the size)

    @classmethod
    def of(cls, html: str) -> Page:
        body = html.encode("utf-8")
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', gzip.compress(body, compresslevel=6))

    @property
    def size(self) -> int:
        """Bytes held: the body and its compressed copy."""
        return len(self.body) + len(self.gzipped)

    @property
    def gzip_etag(self) -> str:
        """The compressed body's own strong ETag (another representation of the same page)."""
        return self.etag[:-1] + '-gzip"'

    def representation(self, accept_encoding: str | None) -> tuple[bytes, str, dict[str, str]]:
        """Body, ETag and extra headers for a client sending `accept_encoding`."""
        if accepts_gzip(accept_encoding):
            return self.gzipped, self.gzip_etag, {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return self.body, self.etag, {"Vary": "Accept-Encoding"}


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header allows gzip (``gzip;q=0`` refuses it)."""
    for part in (accept_encoding or "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            q = params.strip().removeprefix("q=")
            return not (params.strip().startswith("q=") and _quality(q) == 0)
    return False


def _quality(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 1.0


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (weak comparison, as RFC 9110 asks for this header)."""
    if not if_none_match:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or etag in (tag.removeprefix("W/") for tag in tags)


class MapPageCache:
    """Rendered pages per (variant, versions); see the module docstring for the bounds."""

    def __init__(self, *, max_entries: int = 32, max_bytes: int = 64 * 2**20) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[Hashable, Page]] = OrderedDict()  # variant → (versions, page)
        self._bytes = 0
        self._rendering: dict[tuple, list] = {}  # key → [lock, requests using it]
        self.renders = self.hits = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, variant: Hashable, versions: Hashable) -> Page | None:
        with self._lock:
            item = self._items.get(variant)
            if item is None or item[0] != versions:
                return None
            self._items.move_to_end(variant)
            self.hits += 1
            return item[1]

    def page(
        self,
        variant: Hashable,
        versions: Hashable | None,
        render: Callable[[], str],
        still_current: Callable[[], bool],
    ) -> Page:
        """The page of `variant` at `versions`: kept, or rendered by `render` (once for concurrent requests) and
        kept if `still_current()` says nothing changed meanwhile. ``versions=None``: render, never keep."""
        if versions is None:
            return self._render(render)
        page = self.get(variant, versions)
        if page is not None:
            return page
        key = (variant, versions)
        with self._key_lock(key):
            page = self.get(variant, versions)  # rendered by the request this one waited for
            if page is not None:
                return page
            page = self._render(render)
            if still_current():
                self._put(variant, versions, page)
            return page

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def _render(self, render: Callable[[], str]) -> Page:
        page = Page.of(render())
        with self._lock:
            self.renders += 1
        return page

    def _put(self, variant: Hashable, versions: Hashable, page: Page) -> None:
        size = page.size
        with self._lock:
            old = self._items.pop(variant, None)
            if old is not None:
                self._bytes -= old[1].size
            if size > self.max_bytes:
                return
            self._items[variant] = (versions, page)
            self._bytes += size
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, evicted) = self._items.popitem(last=False)
                self._bytes -= evicted.size

    @contextmanager
    def _key_lock(self, key: tuple) -> Iterator[None]:
        """Hold the lock of `key` (one per key being rendered, dropped when no request uses it any more)."""
        with self._lock:
            entry = self._rendering.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._rendering[key]
