"""Labelling in the browser with the keyboard, and the exported data that `tunesmith train` reads."""

from __future__ import annotations

import json

import httpx
from studio_helpers import PROMPTS, acknowledged, create_task, current_pair, label


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_label_five_pairs_with_the_keyboard_then_export(page, studio, studio_root, prompts_file, tmp_path):
    task = create_task(page, studio.url, "run:sft-a", "run:sft-b", str(prompts_file), name="keyboard")
    assert page.locator("#total-count").text_content() == str(len(PROMPTS))
    seen = {}
    for key in ("1", "2", "ArrowLeft", "t"):
        pair = label(page, key)
        seen[pair["id"]] = pair
    page.keyboard.press("u")  # take the tie back: the same pair returns, to be rated again
    page.wait_for_function("document.querySelectorAll('#saved-list li').length === 3")
    assert current_pair(page) == pair and page.locator("#rated-count").text_content() == "3"
    assert label(page, "t") == pair
    # The pair with markup in its prompt is on screen as text; nothing in it ran.
    pair = current_pair(page)
    assert pair["prompt"] == PROMPTS[4] and page.evaluate("window.__xss") is None
    page.screenshot(path=str(tmp_path / "label.png"), full_page=True)
    pair = label(page, None, correction='{"name": "Ivan", "item": "tea"}')
    seen[pair["id"]] = pair
    assert page.locator("#rated-count").text_content() == "5"
    saved = acknowledged(page)
    assert list(saved.values()) == ["correction", "tie", "a", "b", "a"]  # newest first
    assert set(saved) == set(seen)

    page.click("#export-link")
    page.wait_for_url(f"**/feedback/{task}/export")
    page.screenshot(path=str(tmp_path / "export.png"), full_page=True)
    preferences = studio_root / "feedback" / f"task{task}-keyboard-preferences.jsonl"
    corrections = studio_root / "feedback" / f"task{task}-keyboard-corrections.jsonl"
    assert page.locator("#preferences-path").text_content() == str(preferences)

    first, second, third, _, corrected = seen.values()
    rows = read_jsonl(preferences)
    expected = [{"prompt": first["prompt"], "chosen": first["a"], "rejected": first["b"]},
                {"prompt": second["prompt"], "chosen": second["b"], "rejected": second["a"]},
                {"prompt": third["prompt"], "chosen": third["a"], "rejected": third["b"]}]
    expected += [{"prompt": PROMPTS[4], "chosen": '{"name": "Ivan", "item": "tea"}', "rejected": corrected[side]}
                 for side in ("a", "b")]
    # Pairs whose two answers came out the same teach nothing and are left out.
    expected = [row for row in expected if row["chosen"].strip() != row["rejected"].strip()]
    assert rows == expected and len(rows) >= 4
    assert page.locator("#preference-rows").text_content() == str(len(rows))
    fixed = '{"name": "Ivan", "item": "tea"}'
    assert read_jsonl(corrections) == [{"messages": [{"role": "user", "content": PROMPTS[4]},
                                                     {"role": "assistant", "content": fixed}]}]
    # The picks count as wins of the model that wrote the picked side.
    sources = [row.locator("td").all_text_contents() for row in page.locator("#sources tr").all()[1:]]
    expected_wins = {"run:sft-a": 0, "run:sft-b": 0}
    for _, choice, left, right in sources:
        if choice in ("a", "b"):
            expected_wins[left if choice == "a" else right] += 1
    shown = {row.locator("th").text_content(): row.locator("td").text_content()
             for row in page.locator("#wins tr").all()}
    assert shown == {model: f"{count} of 3 picks" for model, count in expected_wins.items()}
    download = httpx.get(f"{studio.url}/feedback/{task}/download/preferences")
    assert download.text == preferences.read_text()

    # tunesmith's own data stage reads both files as DPO and SFT training data.
    from tunesmith.config import DataConfig
    from tunesmith.data import prepare_splits

    splits, _ = prepare_splits(DataConfig(train=str(preferences), validation_size=0.0, cache=False), "preference")
    assert len(splits["train"]) == len(rows)
    splits, _ = prepare_splits(DataConfig(train=str(corrections), validation_size=0.0, cache=False), "chat")
    assert splits["train"][0]["messages"][-1]["content"] == '{"name": "Ivan", "item": "tea"}'


def test_two_samples_of_one_model_and_blind_sides(studio, studio_root, prompts_file):
    """Sampling one model twice gives two different answers per prompt; the API never says which model wrote
    which side, and rating a pair of another task is refused."""
    headers = {"Origin": studio.url}
    with httpx.Client(base_url=studio.url, timeout=60, headers=headers) as http:
        created = http.post("/feedback", data={"model_a": "run:sft-a", "model_b": "run:sft-a", "temperature": "1.0",
                                               "prompts_path": str(prompts_file), "limit": "3", "max_new_tokens": "8"})
        assert created.status_code == 303
        task = int(created.headers["location"].rsplit("/", 1)[-1])
        state = wait_for_pair(http, task)
        pair = state["pair"]
        assert set(pair) == {"id", "position", "messages", "answer_a", "answer_b"}
        assert pair["answer_a"] != pair["answer_b"]
        refused = http.post(f"/api/feedback/{task + 1000}/rate", json={"prompt_id": pair["id"], "choice": "a"})
        assert refused.status_code == 400
        greedy_twice = http.post("/feedback", data={"model_a": "run:sft-a", "model_b": "run:sft-a", "temperature": "0",
                                                    "prompts_path": str(prompts_file)})
        assert greedy_twice.status_code == 400 and "need sampling" in greedy_twice.text


def wait_for_pair(http, task: int) -> dict:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = http.get(f"/api/feedback/{task}/next").json()
        assert not state["error"], state["error"]
        if state["pair"]:
            return state
        time.sleep(0.1)
    raise AssertionError("no pair within 60 s")
