"""Which stored buckets belong to which histogram, when several share one key.

``metric_buckets`` rows are keyed like their metric row — (session, name, ts_us) — and
carry no link to it, so a key normally names one histogram. Two histograms share it when
one batch sends them without timestamps (the server stamps both with the group's
instant). Their buckets were inserted one histogram after the other, each with ``le``
strictly increasing and +Inf last, so the key's buckets in insertion order cut cleanly
where ``le`` stops increasing; each row then takes the run whose counts add up to its
observation count. Read-back and export both need this, and must agree.

What this cannot tell apart: two histograms of one key with equal counts, when the
reader sees only the second (a page or export chunk boundary between them) — it gets
the first one's buckets. That takes one session, one name, one microsecond, equal
counts and a boundary exactly there; a link from bucket to metric row would remove it.
"""

from __future__ import annotations

LeCount = tuple[float | None, int]
"""A histogram bucket as stored: its upper bound (None: +Inf) and its own count."""


def bucket_runs(buckets: list[LeCount]) -> list[list[LeCount]]:
    """One key's buckets, in insertion order, cut into the histograms they came from."""
    runs: list[list[LeCount]] = []
    for le, count in buckets:
        last = runs[-1][-1][0] if runs else None
        if not runs or last is None or (le is not None and le <= last):
            runs.append([])
        runs[-1].append((le, count))
    return runs


def take_run(runs: list[list[LeCount]], observations: int) -> list[LeCount]:
    """A histogram's own run, removed from ``runs``: the first whose counts add up to its
    count (a keyed and a plain histogram of one write are not inserted in their rows'
    order), else the first left. Rows must ask in id order."""
    for index, run in enumerate(runs):
        if sum(count for _, count in run) == observations:
            return runs.pop(index)
    return runs.pop(0) if runs else []
