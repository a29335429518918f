"""Kill -9 the studio in the middle of labelling: every rating it acknowledged is still there after a restart."""

from __future__ import annotations

import sqlite3

from conftest import free_port, start_studio_process
from studio_helpers import acknowledged, create_task, current_pair, label


def stored_ratings(database) -> dict[int, str]:
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return dict(db.execute("SELECT prompt_id, choice FROM ratings"))


def test_acknowledged_ratings_survive_sigkill(page, studio_root, prompts_file, tmp_path):
    database = tmp_path / "studio.db"
    port = free_port()
    server = start_studio_process(studio_root, database, port)
    try:
        task = create_task(page, f"http://127.0.0.1:{port}", "run:sft-a", "run:sft-b", str(prompts_file))
        for key in ("1", "2", "t"):
            label(page, key)
        current_pair(page)
        page.keyboard.press("1")  # and kill the server while this rating is on its way
        server.kill()
        server.wait(30)
    finally:
        server.kill()
    page.wait_for_timeout(300)  # let the page take in whatever answer did arrive
    acked = acknowledged(page)
    assert len(acked) >= 3
    stored = stored_ratings(database)
    assert {pid: stored.get(pid) for pid in acked} == acked  # nothing acknowledged was lost, nothing changed

    port = free_port()
    server = start_studio_process(studio_root, database, port)
    try:
        page.goto(f"http://127.0.0.1:{port}/feedback/{task}")
        assert page.locator("#rated-count").text_content() == str(len(stored))
        pair = label(page, "2")  # labelling carries on where it stopped
        assert pair["id"] not in stored
        assert stored_ratings(database) == {**stored, pair["id"]: "b"}
        page.screenshot(path=str(tmp_path / "after-restart.png"), full_page=True)
    finally:
        server.terminate()
        server.wait(30)
