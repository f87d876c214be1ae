"""The campaign ledger: DIR/ledger.sqlite, one row per query, committed before the next action.

Table `queries`: id INTEGER PRIMARY KEY (also names the result file: runs/q0007.h5), round, slot
(index within the round), kind ('reference' | 'world_model'), status ('proposed' | 'running' |
'done' | 'failed'), params (JSON, physical units: temperature_K, pressure_bar), seed (MD seed),
result_path (relative to DIR), seconds (measured wall seconds), predicted_seconds (what the cost
model expected for a reference run), value and std (the objective observable), observables and
stds (JSON of every observable measured), error, created and updated (UTC, ISO 8601).
(round, kind, slot) is unique: the same query cannot be inserted twice.
Table `rounds`: round, stage (how far the round got; see sciwm.agent.campaign). Table `meta`:
the campaign's config JSON and strategy; a directory refuses a different campaign.
WAL journal with synchronous=FULL: a committed change survives a crash (kill -9 included).
`Ledger.open` also holds an exclusive flock on DIR/ledger.lock, so two processes never run the
same campaign at once (the kernel releases it when the holder dies).
"""
from __future__ import annotations

import datetime
import fcntl
import json
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass

from sciwm.errors import InputError

LEDGER_NAME = "ledger.sqlite"
LOCK_NAME = "ledger.lock"  # flock held by the one process running the campaign
KINDS = ("reference", "world_model")
STATUSES = ("proposed", "running", "done", "failed")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (round INTEGER PRIMARY KEY, stage TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queries (
    id INTEGER PRIMARY KEY, round INTEGER NOT NULL, slot INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN {KINDS}), status TEXT NOT NULL CHECK (status IN {STATUSES}),
    params TEXT NOT NULL, seed INTEGER NOT NULL, result_path TEXT, seconds REAL, predicted_seconds REAL,
    value REAL, std REAL, observables TEXT, stds TEXT, error TEXT, created TEXT NOT NULL, updated TEXT NOT NULL,
    UNIQUE (round, kind, slot));
"""


@dataclass(frozen=True)
class Query:
    """One ledger row with its JSON columns decoded (params and observables: name -> float)."""

    id: int
    round: int
    slot: int
    kind: str
    status: str
    params: dict
    seed: int
    result_path: str | None
    seconds: float | None
    predicted_seconds: float | None
    value: float | None
    std: float | None
    observables: dict | None
    stds: dict | None
    error: str | None


class Ledger:
    """An open ledger file. Every method commits before it returns (or inside `transaction()`)."""

    def __init__(self, path: str):
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT below
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        self._depth = 0
        self._lock = None

    @classmethod
    def open(cls, folder: str, meta: dict[str, str]) -> "Ledger":
        """Open or create folder/ledger.sqlite for the campaign `meta` describes (InputError if the
        folder holds another campaign: one whose stored values of these keys differ)."""
        lock = open(os.path.join(folder, LOCK_NAME), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise InputError(f"{folder} is in use by another running campaign") from None
        try:
            ledger = cls(os.path.join(folder, LEDGER_NAME))
        except sqlite3.DatabaseError as exc:
            lock.close()
            raise InputError(f"{os.path.join(folder, LEDGER_NAME)} is not a campaign ledger: {exc}") from None
        ledger._lock = lock
        stored = {k: v for k, v in ledger.meta().items() if k in meta}
        if not stored:
            with ledger.transaction():
                ledger.db.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
        elif stored != meta:
            ledger.close()
            differs = sorted(k for k in set(stored) | set(meta) if stored.get(k) != meta.get(k))
            raise InputError(f"{folder} holds a different campaign ({', '.join(differs)} differ): "
                             f"use a new --out folder or the original config")
        return ledger

    def close(self) -> None:
        self.db.close()
        if self._lock is not None:
            self._lock.close()  # releases the flock

    @contextmanager
    def transaction(self):
        """Group changes into one commit (nested uses join the outer transaction)."""
        if self._depth == 0:
            self.db.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.db.execute("COMMIT")

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def last_round(self) -> tuple[int, str] | None:
        row = self.db.execute("SELECT round, stage FROM rounds ORDER BY round DESC LIMIT 1").fetchone()
        return None if row is None else (row[0], row[1])

    def set_stage(self, round_: int, stage: str) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO rounds VALUES (?, ?, ?)", (round_, stage, now_iso()))

    def insert(self, round_: int, slot: int, kind: str, params: dict, seed: int,
               predicted_seconds: float | None = None, suffix: str = ".h5") -> int:
        """Add a 'proposed' query; its result path is runs/q{id:04d}{suffix}. Returns the id."""
        with self.transaction():
            now = now_iso()
            cursor = self.db.execute(
                "INSERT INTO queries (round, slot, kind, status, params, seed, predicted_seconds, created, updated) "
                "VALUES (?, ?, ?, 'proposed', ?, ?, ?, ?, ?)",
                (round_, slot, kind, json.dumps(params, sort_keys=True), seed, predicted_seconds, now, now))
            query_id = cursor.lastrowid
            self.db.execute("UPDATE queries SET result_path = ? WHERE id = ?",
                            (os.path.join("runs", f"q{query_id:04d}{suffix}"), query_id))
        return query_id

    def mark_running(self, query_id: int) -> None:
        self._update(query_id, status="running")

    def finish(self, query_id: int, observables: dict, stds: dict | None, seconds: float,
               value: float | None, std: float | None) -> None:
        self._update(query_id, status="done", observables=json.dumps(observables, sort_keys=True),
                     stds=None if stds is None else json.dumps(stds, sort_keys=True), seconds=seconds,
                     value=value, std=std)

    def fail(self, query_id: int, error: str, seconds: float | None) -> None:
        self._update(query_id, status="failed", error=error, seconds=seconds)

    def _update(self, query_id: int, **columns) -> None:
        names = ", ".join(f"{k} = ?" for k in columns)
        with self.transaction():
            self.db.execute(f"UPDATE queries SET {names}, updated = ? WHERE id = ?",
                            (*columns.values(), now_iso(), query_id))

    def queries(self, kind: str | None = None, round_: int | None = None, status: str | None = None) -> list[Query]:
        """Rows in id order, filtered by kind, round and status when given."""
        where = [(c, v) for c, v in (("kind", kind), ("round", round_), ("status", status)) if v is not None]
        sql = "SELECT * FROM queries" + (" WHERE " + " AND ".join(f"{c} = ?" for c, _ in where) if where else "")
        cursor = self.db.execute(sql + " ORDER BY id", [v for _, v in where])
        names = [d[0] for d in cursor.description]
        return [_query(dict(zip(names, row))) for row in cursor.fetchall()]

    def spent_seconds(self) -> float:
        """Measured seconds of every finished (done or failed) reference query."""
        row = self.db.execute("SELECT COALESCE(SUM(seconds), 0) FROM queries "
                              "WHERE kind = 'reference' AND status IN ('done', 'failed')").fetchone()
        return float(row[0])


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _query(row: dict) -> Query:
    decoded = {k: (json.loads(row[k]) if row[k] is not None else None) for k in ("params", "observables", "stds")}
    fields = {k: row[k] for k in Query.__dataclass_fields__ if k not in decoded}
    return Query(**fields, **decoded)
