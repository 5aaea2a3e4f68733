"""Vector tiles of the non-personal layers, kept in memory per version of their layer.

A tile is a function of its layer, z/x/y and the layer's ``layer_versions`` counters (a statement trigger moves
them on every write, migrations 0002 and 0005), so a tile made at one set of counters is served from here for as
long as they stand; a write to the layer changes the counters and so the key, and the old tiles are never served
again (they age out). Bounded by the bytes of the tile bodies, least recently used evicted first. A tile is kept
under the counters read in the same statement that drew it (one snapshot), so it never stands for a newer state
than the one it shows. Concurrent first requests for one tile each draw it (a tile takes milliseconds, not seconds
as a map page does: no lock per key).

Only tiles read with the SYSTEM scope (the same for every user) are kept: tiles of personal layers are made for
each request and never kept (one user's rows must never reach another; see api.routers.tiles).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

ENTRY_OVERHEAD = 200  # bytes counted per entry besides the body (key, tuple, etag), so empty tiles count too


@dataclass(frozen=True)
class Tile:
    body: bytes
    etag: str  # strong, quoted: a hash of the body

    @classmethod
    def of(cls, body: bytes) -> Tile:
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


class TileCache:
    """Tiles per (layer, z, x, y) at one set of layer versions; at most `max_bytes`."""

    def __init__(self, *, max_bytes: int = 64 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[Hashable, Tile]] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable, versions: Hashable) -> Tile | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != versions:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[1]

    def put(self, key: Hashable, versions: Hashable, tile: Tile) -> None:
        size = len(tile.body) + ENTRY_OVERHEAD
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1].body) + ENTRY_OVERHEAD
            if size > self.max_bytes:
                return
            self._items[key] = (versions, tile)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._items.popitem(last=False)
                self._bytes -= len(evicted.body) + ENTRY_OVERHEAD

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
