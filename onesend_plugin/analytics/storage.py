"""A campaign's counters (``CampaignStat`` rows) as stored: bumped in one upsert, read back whole."""

from __future__ import annotations

from django.db import connection

from ..models import Campaign, CampaignStat


def bump(campaign_id: int, counts: dict[str, int]) -> None:
    """Add to a campaign's counters in one statement (an upsert that increments). Names are
    built by ``counters``."""
    counts = {name: n for name, n in sorted(counts.items()) if n}  # one lock order for every caller
    if not counts:
        return
    table = CampaignStat._meta.db_table
    values = ", ".join(["(%s, %s, %s)"] * len(counts))
    params = [p for name, n in counts.items() for p in (campaign_id, name, n)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, name, value) VALUES {values} "
            f"ON CONFLICT (campaign_id, name) DO UPDATE SET value = {table}.value + excluded.value",
            params,
        )


def stats(campaign: Campaign) -> dict[str, int]:
    return dict(campaign.stats.values_list("name", "value"))
