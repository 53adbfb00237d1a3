"""SQLite's plans for the store's hot reads: a unit of work reads its pairs by key, and a read
that scans the pairs table costs in proportion to every pair the store holds (issue 14: a national
replay spent a fifth of its time scanning)."""

from __future__ import annotations

from adapter.store.sql import SCHEMA, SQLITE
from adapter.store.sqlite import MEMORY, connect


def test_pairs_read_by_key_search_the_primary_key_instead_of_scanning_the_table() -> None:
    connection = connect(MEMORY)
    try:
        for statement in SCHEMA:
            connection.execute(SQLITE.render(statement))
        for keys in (1, 2, 500):
            sql = SQLITE.render(SQLITE.pairs_by_keys, keys=", ".join(["(?, ?)"] * keys))
            plan = [row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + sql, [1, "1"] * keys)]
            # "SCAN pairs" / "SEARCH p USING INDEX ..." (the table under its alias)
            on_pairs = [step for step in plan if step.split()[1] in ("pairs", "p")]
            assert on_pairs and all(step.startswith("SEARCH") for step in on_pairs), plan
    finally:
        connection.close()
