"""The studio's durable state in one SQLite file: labelling tasks, their prompts and candidate pairs, the ratings,
and the training processes the studio launched.

WAL mode with synchronous=FULL, and every write commits before the function returns: a rating the server has
acknowledged is on disk, so it survives the server being killed (or the machine losing power) a moment later.
Each call opens its own short-lived connection, so request threads and the pair-making thread never share one.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing, contextmanager
from pathlib import Path

CHOICES = ("a", "b", "tie", "skip", "correction")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    source TEXT NOT NULL,
    model_a TEXT NOT NULL,
    model_b TEXT NOT NULL,
    temperature REAL NOT NULL,
    max_new_tokens INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS prompts (
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    position INTEGER NOT NULL,
    messages TEXT NOT NULL,
    answer_a TEXT,
    answer_b TEXT,
    source_a TEXT,
    source_b TEXT,
    UNIQUE (task_id, position)
);
CREATE TABLE IF NOT EXISTS ratings (
    prompt_id INTEGER PRIMARY KEY REFERENCES prompts(id),
    choice TEXT NOT NULL CHECK (choice IN ('a', 'b', 'tie', 'skip', 'correction')),
    correction TEXT,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS launches (
    name TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    config TEXT NOT NULL,
    log TEXT NOT NULL,
    started TEXT NOT NULL,
    returncode INTEGER
);
"""


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


class Store:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # persistent: readers never block the writer
            db.executescript(SCHEMA)

    @contextmanager
    def connect(self):
        """A connection for one unit of work; the transaction commits when the block ends without an error."""
        with closing(sqlite3.connect(self.path, timeout=30)) as db:
            db.row_factory = sqlite3.Row
            # FULL syncs the WAL on every commit: an acknowledged rating survives a power cut, not only a crash.
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            with db:
                yield db

    # -- labelling tasks -------------------------------------------------------------------------------------------

    def create_task(self, name: str, source: str, model_a: str, model_b: str, temperature: float,
                    max_new_tokens: int, seed: int, prompts: list[list[dict]]) -> int:
        with self.connect() as db:
            task = db.execute(
                "INSERT INTO tasks (name, created, source, model_a, model_b, temperature, max_new_tokens, seed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (name, now(), source, model_a, model_b, temperature, max_new_tokens, seed)).lastrowid
            db.executemany("INSERT INTO prompts (task_id, position, messages) VALUES (?, ?, ?)",
                           [(task, i, json.dumps(m)) for i, m in enumerate(prompts)])
        return task

    def task(self, task_id: int) -> dict | None:
        with self.connect() as db:
            row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return {**dict(row), **self.progress(task_id)} if row else None

    def tasks(self) -> list[dict]:
        with self.connect() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM tasks ORDER BY id DESC")]
        return [self.task(i) for i in ids]

    def set_task_error(self, task_id: int, message: str | None) -> None:
        with self.connect() as db:
            db.execute("UPDATE tasks SET error = ? WHERE id = ?", (message, task_id))

    def progress(self, task_id: int) -> dict:
        with self.connect() as db:
            total, ready = db.execute(
                "SELECT COUNT(*), COUNT(answer_a) FROM prompts WHERE task_id = ?", (task_id,)).fetchone()
            counts = dict(db.execute(
                "SELECT r.choice, COUNT(*) FROM ratings r JOIN prompts p ON p.id = r.prompt_id "
                "WHERE p.task_id = ? GROUP BY r.choice", (task_id,)).fetchall())
        return {"total": total, "generated": ready, "rated": sum(counts.values()),
                "counts": {c: counts.get(c, 0) for c in CHOICES}}

    # -- candidate pairs -------------------------------------------------------------------------------------------

    def prompts_without_answers(self, task_id: int, limit: int) -> list[dict]:
        with self.connect() as db:
            rows = db.execute("SELECT id, position, messages FROM prompts WHERE task_id = ? AND answer_a IS NULL "
                              "ORDER BY position LIMIT ?", (task_id, limit)).fetchall()
        return [{**dict(r), "messages": json.loads(r["messages"])} for r in rows]

    def waiting_pairs(self, task_id: int) -> int:
        """Pairs generated and not yet rated: how far the pair maker is ahead of the person labelling."""
        with self.connect() as db:
            return db.execute("SELECT COUNT(*) FROM prompts p LEFT JOIN ratings r ON r.prompt_id = p.id "
                              "WHERE p.task_id = ? AND p.answer_a IS NOT NULL AND r.prompt_id IS NULL",
                              (task_id,)).fetchone()[0]

    def save_answers(self, rows: list[tuple[int, str, str, str, str]]) -> None:
        """(prompt id, answer a, answer b, model of a, model of b) for each prompt."""
        with self.connect() as db:
            db.executemany("UPDATE prompts SET answer_a = ?, answer_b = ?, source_a = ?, source_b = ? WHERE id = ?",
                           [(a, b, sa, sb, pid) for pid, a, b, sa, sb in rows])

    def next_pair(self, task_id: int) -> dict | None:
        with self.connect() as db:
            row = db.execute(
                "SELECT p.* FROM prompts p LEFT JOIN ratings r ON r.prompt_id = p.id WHERE p.task_id = ? "
                "AND p.answer_a IS NOT NULL AND r.prompt_id IS NULL ORDER BY p.position LIMIT 1",
                (task_id,)).fetchone()
        return _pair(row) if row else None

    # -- ratings ---------------------------------------------------------------------------------------------------

    def rate(self, task_id: int, prompt_id: int, choice: str, correction: str | None) -> bool:
        """Store (or replace) the rating of one pair; False when the pair is not in this task or has no answers.
        Returns only after the commit, so the caller may acknowledge the rating."""
        with self.connect() as db:
            known = db.execute("SELECT 1 FROM prompts WHERE id = ? AND task_id = ? AND answer_a IS NOT NULL",
                               (prompt_id, task_id)).fetchone()
            if not known:
                return False
            db.execute("INSERT INTO ratings (prompt_id, choice, correction, created) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (prompt_id) DO UPDATE SET choice = excluded.choice, "
                       "correction = excluded.correction, created = excluded.created",
                       (prompt_id, choice, correction, now()))
        return True

    def unrate(self, task_id: int, prompt_id: int) -> dict | None:
        """Take a rating back (undo); the pair, to be shown and rated again, or None when it had no rating."""
        with self.connect() as db:
            row = db.execute("SELECT p.* FROM prompts p JOIN ratings r ON r.prompt_id = p.id "
                             "WHERE p.id = ? AND p.task_id = ?", (prompt_id, task_id)).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM ratings WHERE prompt_id = ?", (prompt_id,))
        return _pair(row)

    def rated_pairs(self, task_id: int) -> list[dict]:
        with self.connect() as db:
            rows = db.execute("SELECT p.*, r.choice, r.correction, r.created AS rated FROM prompts p "
                              "JOIN ratings r ON r.prompt_id = p.id WHERE p.task_id = ? ORDER BY p.position",
                              (task_id,)).fetchall()
        return [{**_pair(r), "choice": r["choice"], "correction": r["correction"], "rated": r["rated"]}
                for r in rows]

    # -- training processes ----------------------------------------------------------------------------------------

    def add_launch(self, name: str, pid: int, config: Path, log: Path) -> None:
        with self.connect() as db:
            db.execute("INSERT INTO launches (name, pid, config, log, started) VALUES (?, ?, ?, ?, ?)",
                       (name, pid, str(config), str(log), now()))

    def launch(self, name: str) -> dict | None:
        with self.connect() as db:
            row = db.execute("SELECT * FROM launches WHERE name = ?", (name,)).fetchone()
        return dict(row) if row else None

    def set_returncode(self, name: str, code: int) -> None:
        with self.connect() as db:
            db.execute("UPDATE launches SET returncode = ? WHERE name = ?", (code, name))


def _pair(row) -> dict:
    return {"id": row["id"], "task_id": row["task_id"], "position": row["position"],
            "messages": json.loads(row["messages"]), "answer_a": row["answer_a"], "answer_b": row["answer_b"],
            "source_a": row["source_a"], "source_b": row["source_b"]}
