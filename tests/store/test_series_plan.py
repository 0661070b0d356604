"""Which index SQLite reads the explorer's points from: the speed of a grouped series is
mostly whether each point costs an index entry or also a table row (migration 0008)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Select, select, text

from datacat.store.migrate import upgrade
from datacat.store.repository import Repository
from datacat.store.seriesquery import Bucket, SeriesQuery, match, source_points
from datacat.store.tables import metrics


@pytest.fixture
async def sqlite_repo(tmp_path: Path) -> AsyncIterator[Repository]:
    repo = Repository.from_url(f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}")
    await upgrade(repo.engine)
    yield repo
    await repo.engine.dispose()


def _points(group_by: str | None) -> Select:
    """The explorer's points of one metric per hour, as ``metricquery`` selects them."""
    query = SeriesQuery(name="frame_time", group_by=group_by)
    return source_points(query, match(query, None), Bucket.hour, "sqlite")


async def _plan(repo: Repository, query: Select) -> list[str]:
    async with repo.engine.connect() as conn:
        compiled = query.compile(conn.sync_engine, compile_kwargs={"literal_binds": True})
        return [row[-1] for row in await conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]


@pytest.mark.parametrize("group_by", ["tag:gpu", None])
async def test_sqlite_reads_a_metrics_points_and_tags_from_one_covering_index(
    sqlite_repo: Repository, group_by: str | None
) -> None:
    steps = await _plan(sqlite_repo, _points(group_by))
    assert steps == ["SEARCH metrics USING COVERING INDEX ix_metrics_name_ts_tags (name=?)"]


@pytest.mark.parametrize("group_by", ["tag:gpu", None])
async def test_sqlite_finds_histogram_rows_in_their_partial_index(
    sqlite_repo: Repository, group_by: str | None
) -> None:
    """Not in the by-name index, which would read every point's row to find the few."""
    # The clause histogramseries reads histogram rows with.
    histograms = _points(group_by).where(metrics.c.observations.is_not(None)).subquery()
    steps = await _plan(sqlite_repo, select(histograms.c.bucket).distinct())
    assert steps[0] == "SEARCH metrics USING COVERING INDEX ix_metrics_histograms_tags (name=?)"
