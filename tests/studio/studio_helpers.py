"""Browser steps shared by the labelling tests."""

from __future__ import annotations

PROMPTS = [
    "Tom here - two big bagels for pickup",
    "hey it's Omar!! five chai latte (big) sent over thanks",
    "Order for Lucia: 9 x cappuccino, size big, delivered.",
    "Hi, this is Nina. Could I get five medium iced mocha for pickup?",
    'Ivan <script>window.__xss = 1</script> wants "one" <b>small</b> tea & cake',
    "Please put me down for three large flat whites, Sam, delivery",
    "Ana: a small americano to take away",
]
SAVED = "#saved-list li"


def create_task(page, url: str, model_a: str, model_b: str, prompts: str, limit: int = 7, temperature: float = 0.0,
                name: str = "") -> int:
    page.goto(f"{url}/feedback")
    form = page.locator("#new-task")
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=model_a]").select_option(model_a)
    form.locator("select[name=model_b]").select_option(model_b)
    form.locator("input[name=prompts_path]").fill(prompts)
    form.locator("input[name=limit]").fill(str(limit))
    form.locator("input[name=temperature]").fill(str(temperature))
    form.locator("input[name=max_new_tokens]").fill("12")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/feedback/*")
    return int(page.url.rsplit("/", 1)[-1])


def current_pair(page) -> dict:
    page.locator("#pair").wait_for(state="visible")
    return {"id": int(page.locator("#prompt-id").input_value()),
            "prompt": page.locator("#conversation .role-user pre").last.text_content(),
            "a": page.locator("#answer-a").text_content(), "b": page.locator("#answer-b").text_content()}


def press(page, key: str, correction: str | None = None) -> None:
    if correction is None:
        page.keyboard.press(key)
        return
    page.keyboard.press("c")  # focuses the correction box
    page.keyboard.type(correction)
    page.keyboard.press("Control+Enter")


def label(page, key: str, correction: str | None = None) -> dict:
    """Rate the pair on screen with the keyboard and wait until the server has acknowledged it."""
    pair = current_pair(page)
    saved = page.locator(SAVED).count()
    press(page, key, correction)
    page.wait_for_function(f"document.querySelectorAll('{SAVED}').length > {saved}")
    return pair


def acknowledged(page) -> dict[int, str]:
    """prompt id → choice of every rating the page was told is saved."""
    items = page.locator(SAVED)
    return {int(items.nth(i).get_attribute("data-prompt")): items.nth(i).get_attribute("data-choice")
            for i in range(items.count())}
