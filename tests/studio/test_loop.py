"""The whole loop in the browser: label pairs → export → train DPO on them from the launch form → the new run
finishes and shows next to the run it learned from in the compare view."""

from __future__ import annotations

import yaml
from studio_helpers import create_task, label

RUN = "dpo-from-feedback"


def test_label_export_train_dpo_and_compare(page, studio, studio_root, prompts_file, tmp_path):
    create_task(page, studio.url, "run:sft-a", "base:sft-a", str(prompts_file), name="loop")
    for key in ("1", "2", "1", "2", "1", "2"):
        label(page, key)
    page.click("#export-link")
    preferences = page.locator("#preferences-path").text_content()
    rows = int(page.locator("#preference-rows").text_content())
    assert rows >= 5

    page.click("#train-dpo")
    form = page.locator("#launch-form")
    assert form.locator('select[name="objective.name"]').input_value() == "dpo"
    assert form.locator('input[name="data.train"]').input_value() == preferences
    assert form.locator('input[name="data.test"]').input_value() == ""
    form.locator('input[name="training.max_steps"]').fill("4")
    form.locator('input[name="training.batch_size"]').fill("2")
    form.locator('input[name="output.name"]').fill(RUN)
    form.locator("textarea[name=more]").fill("training.logging_steps=1\ndata.validation_size=0.3\neval.steps=2")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/runs/{RUN}")
    # The page follows the training process and reloads itself when the run is done.
    page.locator("#run-status .status-finished").wait_for(timeout=150_000)
    page.wait_for_function("document.querySelector('[data-launch-field=state]').textContent === 'ended'")
    page.screenshot(path=str(tmp_path / "dpo-run.png"), full_page=True)

    config = yaml.safe_load((studio_root / RUN / "config.yaml").read_text())
    assert config["objective"]["name"] == "dpo" and config["data"]["train"] == preferences
    assert int(page.locator("#run-step").text_content()) == 4

    page.goto(f"{studio.url}/runs")
    page.check('input[value="sft-a"]')
    page.check(f'input[value="{RUN}"]')
    page.click("#compare-button")
    runs = page.locator("#compare-table thead th").all_text_contents()[1:]
    assert sorted(runs) == sorted(["sft-a", RUN])
    assert page.locator("#compare-table [data-run-status]").all_text_contents() == ["finished", "finished"]
    differences = {row.locator("th").text_content(): dict(zip(runs, row.locator("td").all_text_contents()))
                   for row in page.locator("#differences tr").all()[1:]}
    assert differences["objective.name"] == {"sft-a": "sft", RUN: "dpo"}
    assert differences["data.train"][RUN] == preferences
    measures = {row.locator("th").text_content(): dict(zip(runs, row.locator("td").all_text_contents()))
                for row in page.locator("#compare-table tbody tr").all()}
    assert measures["rewards/accuracies (validation, last)"]["sft-a"] == "–"  # a DPO measure; the SFT run has none
    assert 0 <= float(measures["rewards/accuracies (validation, last)"][RUN]) <= 1
    page.screenshot(path=str(tmp_path / "compare-dpo.png"), full_page=True)


def test_a_launch_that_fails_early_shows_why(page, studio, studio_root):
    page.goto(f"{studio.url}/launch?from=sft-a")
    form = page.locator("#launch-form")
    form.locator('input[name="data.train"]').fill(str(studio_root / "missing.jsonl"))
    form.locator('input[name="output.name"]').fill("never-starts")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/runs/never-starts")
    page.locator("#run-status .status-failed").wait_for(timeout=60_000)
    page.wait_for_function("document.querySelector('[data-launch-field=state]').textContent === 'ended with code 2'")
    assert "error: data file not found" in page.locator('[data-launch-field="log"]').text_content()
    assert not (studio_root / "never-starts").exists()
