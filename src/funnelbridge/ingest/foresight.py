"""What the parsing process of an events import (:mod:`funnelbridge.ingest.parser`) works out for the writer
across the import's chunks, so that the writer — whose CPU bounds the import's wall time — does not have to
(issue 6: at 10M events the writer had ~120 CPU s of work, the parsing process ~40).

Each plain chunk's plan (:class:`~funnelbridge.ingest.bulkplain.PlainPlan`) gets:

- ``gids``: its groups' identifier numbers (:class:`~funnelbridge.ingest.idcache.IdNumbers`), which the writer's
  :class:`~funnelbridge.ingest.idcache.IdCache` maps to contact ids with one numpy gather instead of a dictionary
  probe a row (1.2 CPU-µs an event in the writer);
- ``repeated``: the rows whose key's 64-bit hash an earlier row of the import had (the first load's check of
  :class:`~funnelbridge.ingest.firstkeys.FirstKeys`, ~0.5 CPU-µs an event: hashing the fresh key texts and
  searching the sorted runs). The parsing process sees every chunk in the order the writer stores them, so its set
  of hashes is the writer's — as long as the writer takes every chunk's answer from here (it stops deferring the
  unique index otherwise);
- ``touches``: the rows' (source, medium, campaign) coded per chunk (an int32 a row and the chunk's few distinct
  triples), which the writer's fold (:class:`~funnelbridge.ingest.ownfold.OwnFold`) maps with one dictionary probe
  a distinct triple and a gather, instead of a tuple hashed a row (~0.3 CPU-µs an event in the writer).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from funnelbridge.ingest.bulkevents import EventChunk
from funnelbridge.ingest.bulkplain import CAMPAIGN, KEY, MEDIUM, SOURCE
from funnelbridge.ingest.firstkeys import HASHER, SeenHashes
from funnelbridge.ingest.idcache import IdNumbers
from funnelbridge.ingest.ownfold import Touches

__all__ = ["Foresight"]


class Foresight:
    """One import's parsing-side state: identifier numbers and the hashes of the keys seen so far."""

    __slots__ = ("_numbers", "_seen")

    def __init__(self, hasher: Callable[[str], int] | None = None) -> None:
        self._numbers = IdNumbers()
        self._seen = SeenHashes(hasher or HASHER)

    def annotate(self, chunk: EventChunk) -> None:
        """Give a plain chunk's plan its identifier numbers and repeated rows (nothing for other chunks)."""
        plan = chunk.plan
        if plan is None:
            return
        keys = chunk.columns[KEY]
        fresh = self._seen.admit(keys)
        repeated = array("q")
        if len(fresh) < len(keys):
            kept = set(fresh)
            repeated.extend(i for i in range(len(keys)) if i not in kept)
        chunk.plan = replace(plan, gids=self._numbers.of(plan.groups), repeated=repeated, touches=_touches(chunk))


def _touches(chunk: EventChunk) -> Touches:
    """The chunk's rows' (source, medium, campaign) as codes (int32), and the distinct triples in code order."""
    columns = chunk.columns
    where: dict[tuple[Any, Any, Any], int] = {}
    number = where.setdefault
    codes = array("i", [number(triple, len(where)) for triple in zip(columns[SOURCE], columns[MEDIUM],
                                                                       columns[CAMPAIGN], strict=True)])  # fmt: skip
    return codes, list(where)
