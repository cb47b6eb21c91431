"""The run index: an embedded SQLite database (stdlib sqlite3) under the reports directory.

- WAL journal and a 30 s busy timeout: two runs finishing at once (or a run and a `report`
  command) take turns; every write is one `BEGIN IMMEDIATE` transaction, so a reader never
  sees half a run.
- `schema_version` holds the version; MIGRATIONS[n] brings version n to n + 1 (append, never
  edit one that shipped). A database from a newer harness is refused, not guessed at.
- A run is keyed by (run_id, section): indexing it again replaces it (re-rendering a run
  directory is idempotent).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from failover_harness.errors import InfrastructureError, InputError
from failover_harness.history.records import IndexedMetric, IndexedRun

INDEX_FILE = "history.sqlite"
BUSY_TIMEOUT_S = 30.0

MIGRATIONS: list[tuple[str, ...]] = [
    (  # 0 -> 1
        """CREATE TABLE runs (
            run_id TEXT NOT NULL, section INTEGER NOT NULL, iteration INTEGER NOT NULL,
            run_dir TEXT NOT NULL, started_at REAL, ended_at REAL,
            playbook TEXT NOT NULL, playbook_digest TEXT,
            inventory TEXT NOT NULL, inventory_digest TEXT,
            status TEXT NOT NULL, run_status TEXT, indexed_at REAL NOT NULL,
            PRIMARY KEY (run_id, section))""",
        "CREATE INDEX runs_by_playbook ON runs (playbook, inventory, started_at)",
        """CREATE TABLE labels (
            run_id TEXT NOT NULL, section INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
            PRIMARY KEY (run_id, section, key),
            FOREIGN KEY (run_id, section) REFERENCES runs ON DELETE CASCADE)""",
        """CREATE TABLE metrics (
            run_id TEXT NOT NULL, section INTEGER NOT NULL, iteration INTEGER NOT NULL,
            metric TEXT NOT NULL, unit TEXT NOT NULL, available INTEGER NOT NULL,
            value REAL, lo REAL, hi REAL, censored INTEGER NOT NULL, estimate TEXT,
            verdict TEXT, reason TEXT, regression INTEGER NOT NULL,
            PRIMARY KEY (run_id, section, iteration, metric),
            FOREIGN KEY (run_id, section) REFERENCES runs ON DELETE CASCADE)""",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)


class HistoryError(InfrastructureError):
    """The run index cannot be opened, read or written."""


def index_path(reports: Path) -> Path:
    """The index of a reports directory (or the file itself when given one)."""
    return reports if reports.suffix == ".sqlite" else reports / INDEX_FILE


def _epoch(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


class HistoryIndex:
    """An open index; use `open_index` (a context manager)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn, self.path = conn, path

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")  # the write lock now, not at the first insert
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def migrate(self) -> None:
        with self._write() as c:
            c.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = c.execute("SELECT max(version) FROM schema_version").fetchone()
            current = int(row[0] or 0)
            if current > SCHEMA_VERSION:
                raise HistoryError(f"{self.path}: written by a newer failover-harness (index "
                                   f"schema {current}, this one knows {SCHEMA_VERSION}): "
                                   "upgrade, or give another reports directory")
            for version in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[version]:
                    c.execute(statement)
                c.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))

    def schema_version(self) -> int:
        return int(self.conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])

    def put(self, runs: Sequence[IndexedRun]) -> None:
        """Index the runs: each run id's earlier rows are replaced, in one transaction."""
        now = datetime.now(UTC).timestamp()
        with self._write() as c:
            for run_id in {r.run_id for r in runs}:
                c.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            for r in runs:
                c.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", (
                    r.run_id, r.section, r.iteration, r.run_dir, _epoch(r.started_at), _epoch(r.ended_at),
                    r.playbook, r.playbook_digest, r.inventory, r.inventory_digest, r.status,
                    r.run_status, now))
                c.executemany("INSERT INTO labels VALUES (?,?,?,?)",
                              [(r.run_id, r.section, k, v) for k, v in r.labels.items()])
                c.executemany("INSERT INTO metrics VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [
                    (r.run_id, r.section, m.iteration, m.metric, m.unit, int(m.available),
                     m.value, m.lo, m.hi, int(m.censored), m.estimate, m.verdict, m.reason,
                     int(m.regression)) for m in r.metrics])

    def runs(self, *, playbook: str | None = None, inventory: str | None = None,
             before: datetime | None = None, exclude_run: str | None = None,
             latest: int | None = None) -> list[IndexedRun]:
        """Runs oldest first (by start), filtered; `latest`: only the last that many."""
        where: list[str] = ["1=1"]
        args: list[object] = []
        for column, value in (("playbook", playbook), ("inventory", inventory)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if before is not None:
            where.append("started_at < ?")
            args.append(before.timestamp())
        if exclude_run is not None:
            where.append("run_id != ?")
            args.append(exclude_run)
        sql = (f"SELECT * FROM runs WHERE {' AND '.join(where)} "
               "ORDER BY started_at IS NULL, started_at DESC, run_id DESC, section DESC")
        if latest is not None:
            sql += f" LIMIT {int(latest)}"
        rows = self.conn.execute(sql, args).fetchall()
        return [self._run(row) for row in reversed(rows)]

    def last_runs(self, count: int, *, playbook: str, inventory: str, before: datetime,
                  exclude_run: str) -> list[IndexedRun]:
        """Every section (iteration) of the last `count` runs of the playbook against the
        inventory that started before `before`, oldest first."""
        rows = self.conn.execute(
            "SELECT run_id FROM runs WHERE playbook = ? AND inventory = ? AND run_id != ? "
            "GROUP BY run_id HAVING min(started_at) < ? ORDER BY min(started_at) DESC LIMIT ?",
            (playbook, inventory, exclude_run, before.timestamp(), count)).fetchall()
        return [section for row in reversed(rows) for section in self.run(row["run_id"])]

    def run(self, run_id: str) -> list[IndexedRun]:
        rows = self.conn.execute("SELECT * FROM runs WHERE run_id = ? ORDER BY section",
                                 (run_id,)).fetchall()
        return [self._run(row) for row in rows]

    def _run(self, row: sqlite3.Row) -> IndexedRun:
        key = (row["run_id"], row["section"])
        labels = dict(self.conn.execute(
            "SELECT key, value FROM labels WHERE run_id = ? AND section = ? ORDER BY key", key
        ).fetchall())
        metrics = [IndexedMetric(
            iteration=m["iteration"], metric=m["metric"], unit=m["unit"],
            available=bool(m["available"]), value=m["value"], lo=m["lo"], hi=m["hi"],
            censored=bool(m["censored"]), estimate=m["estimate"], verdict=m["verdict"],
            reason=m["reason"], regression=bool(m["regression"]))
            for m in self.conn.execute(
                "SELECT * FROM metrics WHERE run_id = ? AND section = ? ORDER BY iteration, rowid",
                key).fetchall()]
        return IndexedRun(
            run_id=row["run_id"], section=row["section"], iteration=row["iteration"],
            run_dir=row["run_dir"],
            started_at=_when(row["started_at"]), ended_at=_when(row["ended_at"]),
            playbook=row["playbook"], playbook_digest=row["playbook_digest"],
            inventory=row["inventory"], inventory_digest=row["inventory_digest"],
            status=row["status"], run_status=row["run_status"], labels=labels, metrics=metrics)


@contextmanager
def open_index(path: Path, *, create: bool = True) -> Iterator[HistoryIndex]:
    """The index at `path`, migrated to this harness's schema. create=False: a missing index
    is bad input (a read of history that was never written). sqlite errors become
    HistoryError naming the file."""
    if not create and not path.is_file():
        raise InputError("no run index here: runs write it when they end; `failover-harness "
                         "report index DIR` builds it from existing run directories",
                         file=str(path))
    try:
        with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)) as conn:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            index = HistoryIndex(conn, path)
            index.migrate()
            yield index
    except sqlite3.Error as exc:
        raise HistoryError(f"{path}: run index: {exc}") from exc
