"""Example data for classification and preference objectives, generated deterministically.

- `make_reviews`: short movie reviews labelled positive/negative (sentiment classification). The sentiment is
  carried by a few phrases among neutral filler, sometimes negated ("not bad"), so a model has to read them.
- `make_order_preferences`: for café orders, the correct JSON (chosen) against a plausible wrong answer (rejected):
  prose, a wrong field, or broken JSON.
"""

from __future__ import annotations

import json
import random

from tunesmith.quickstart.orders import make_examples

SUBJECTS = ["The film", "This movie", "The sequel", "The director's new picture", "The documentary", "It",
            "The thriller", "This comedy", "The remake", "The animated feature"]
POSITIVE = ["a delight from start to finish", "beautifully shot", "genuinely moving", "funny and warm",
            "worth every minute", "brilliantly acted", "a triumph", "smart and gripping", "not bad at all",
            "never boring"]
NEGATIVE = ["a waste of time", "painfully slow", "badly acted", "dull and predictable", "a mess",
            "not worth watching", "boring from the first scene", "not good at all", "poorly written",
            "never takes off"]
FILLER = ["The soundtrack is by a newcomer.", "It runs just under two hours.", "I saw it on a Tuesday.",
          "The cast includes several familiar faces.", "It is based on a novel.", "The story is set in Lisbon.",
          "My friend chose the cinema.", "There is a short scene after the credits."]


def make_reviews(count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows, seen = [], set()
    while len(rows) < count:
        label = rng.choice(["positive", "negative"])
        phrases = rng.sample(POSITIVE if label == "positive" else NEGATIVE, 2)
        parts = [f"{rng.choice(SUBJECTS)} is {phrases[0]}.", rng.choice(FILLER), f"Overall, {phrases[1]}."]
        if rng.random() < 0.5:
            parts.insert(0, rng.choice(FILLER))
        text = " ".join(parts)
        if text not in seen:
            seen.add(text)
            rows.append({"text": text, "label": label})
    return rows


def _rejected(target: dict, rng: random.Random) -> str:
    kind = rng.choice(["prose", "wrong_field", "broken"])
    if kind == "prose":
        return f"Sure! {target['name']} wants {target['quantity']} {target['item']}."
    if kind == "wrong_field":
        wrong = dict(target, quantity=target["quantity"] + rng.randint(1, 3), delivery=not target["delivery"])
        return json.dumps(wrong)
    return json.dumps(target)[:-8]


def make_order_preferences(count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for example in make_examples(count, seed):
        user, assistant = example["messages"]
        rows.append({"prompt": user["content"], "chosen": assistant["content"],
                     "rejected": _rejected(json.loads(assistant["content"]), rng)})
    return rows
