"""The studio in headless Chromium: runs list, run page with its loss chart, compare, try it."""

from __future__ import annotations

import pytest

from studio_helpers import PROMPTS

CHART_COLORS = {"#1f77b4": (31, 119, 180), "#d62728": (214, 39, 40)}  # the first two series colours of studio.js

COUNT_COLOR = """([canvas, rgb]) => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4)
    if ([0, 1, 2].every((k) => Math.abs(data[i + k] - rgb[k]) < 8)) count++;
  return count;
}"""


def pixels_of(page, rgb) -> int:
    canvas = page.locator("canvas.curves")
    page.wait_for_function("document.querySelector('canvas.curves').dataset.drawn === '1'")
    return canvas.evaluate("(c, rgb) => (" + COUNT_COLOR + ")([c, rgb])", list(rgb))


def test_runs_list_and_run_page(page, studio, tmp_path):
    page.goto(f"{studio.url}/runs")
    rows = page.locator("#runs-table tbody tr")
    shown = {rows.nth(i).get_attribute("data-run") for i in range(rows.count())}
    assert {"sft-a", "sft-b"} <= shown and shown <= {"sft-a", "sft-b", "dpo-from-feedback"}  # the loop test adds one
    assert page.locator('tr[data-run="sft-a"] [data-field="status"]').text_content() == "finished"
    # The table shows the run's own last logged losses.
    assert page.locator('tr[data-run="sft-a"] [data-field="train_loss"]').text_content() != "–"
    page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)

    page.click("text=sft-a")
    page.wait_for_url("**/runs/sft-a")
    assert pixels_of(page, CHART_COLORS["#1f77b4"]) > 200  # the training curve and its legend were drawn
    assert "method:" in page.locator("#config-text").text_content()
    report = page.locator("#data-report").text_content()
    assert "sources.train.records" in report and "rows.validation" in report
    assert page.locator("#eval-table").count() == 1
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)


def test_compare_two_runs(page, studio, tmp_path):
    page.goto(f"{studio.url}/runs")
    page.check('input[value="sft-a"]')
    page.check('input[value="sft-b"]')
    page.click("#compare-button")
    page.wait_for_url("**/compare?*")
    headers = page.locator("#compare-table thead th").all_text_contents()
    assert headers[1:] == ["sft-a", "sft-b"]
    statuses = page.locator("#compare-table [data-run-status]").all_text_contents()
    assert statuses == ["finished", "finished"]
    for rgb in CHART_COLORS.values():  # one colour per run in the single chart
        assert pixels_of(page, rgb) > 50
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)


def test_try_it_shows_base_and_run_side_by_side_and_escapes_markup(page, studio, studio_root, tmp_path):
    from tunesmith.inference import generate
    from tunesmith.models.saved import load_run

    page.goto(f"{studio.url}/try?run=sft-a")
    for ref in ("run:sft-a", "base:sft-a"):
        assert page.locator(f'input[value="{ref}"]').is_checked()
    page.fill("textarea[name=prompt]", PROMPTS[4])
    page.fill("input[name=max_new_tokens]", "10")
    page.click("#try-form button[type=submit]")
    page.locator("#answers").wait_for()
    assert page.locator("#shown-prompt").text_content() == PROMPTS[4]  # shown as text, never run
    assert page.evaluate("window.__xss") is None
    answers = {s.get_attribute("data-model"): s.locator("pre").text_content()
               for s in page.locator("#answers section").all()}
    assert set(answers) == {"run:sft-a", "base:sft-a"}
    for ref, base in (("run:sft-a", False), ("base:sft-a", True)):
        loaded = load_run(studio_root / "sft-a", base=base)
        model, tokenizer = loaded.model, loaded.tokenizer
        expected = generate(model, tokenizer, [[{"role": "user", "content": PROMPTS[4]}]], 10)[0]
        assert answers[ref] == expected
    page.screenshot(path=str(tmp_path / "try.png"), full_page=True)


def test_unknown_run_is_a_404_page_not_a_traceback(page, studio):
    response = page.goto(f"{studio.url}/runs/no-such-run")
    assert response.status == 404
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "no run 'no-such-run'" in page.locator("#error-message").text_content()


@pytest.mark.parametrize("name", ["../sft-a", "sft-a/../../etc", "/etc/passwd"])
def test_run_names_cannot_leave_the_studio_folder(studio_root, name):
    from tunesmith.studio.runs_index import RunNotFound, resolve_run

    with pytest.raises(RunNotFound):
        resolve_run(studio_root, name)
