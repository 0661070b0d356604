"""The Releases page's rows: the API's figures (``api.releases``) put as people read them."""

from __future__ import annotations

from typing import Any

from datacat.api.releases import release_out
from datacat.store.releases import Release
from datacat_web.context import display_time


def percent(rate: float) -> str:
    return f"{100 * rate:.1f}%"


def median_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {secs}s"


def release_row(index: int, release: Release) -> dict[str, Any]:
    out = release_out(release)
    return {
        **out,
        "crash_free": percent(out["crash_free_rate"]),
        "hang_free": percent(out["hang_free_rate"]),
        "median": median_text(out["median_duration_s"]),
        "first": display_time(release.first_seen_us),
        "last": display_time(release.last_seen_us),
        # What the sparkline draws (app.js): crash-free % per UTC day of session creation.
        "spark": {
            "id": f"spark-{index}",
            "name": f"{out['product'] or '—'} {out['version'] or '—'} crash-free %",
            "days": [d["day"] for d in out["daily"]],
            "values": [round(100 * d["crash_free_rate"], 2) for d in out["daily"]],
        },
    }
