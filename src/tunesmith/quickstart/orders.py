"""The quickstart task: free-text café orders turned into one fixed JSON schema, generated deterministically."""

from __future__ import annotations

import json
import random

SYSTEM_PROMPT = (
    "Extract the order as one line of JSON with keys name, item, quantity (integer), "
    "size (small, medium or large) and delivery (true or false)."
)
NAMES = ["Maria", "Tom", "Aisha", "Kenji", "Lucia", "Omar", "Priya", "Sven", "Chloe", "Diego", "Fatima", "Liam",
         "Mei", "Noah", "Olga", "Rafael", "Sara", "Yusuf", "Zoe", "Hannah", "Ivan", "Nina", "Pedro", "Grace"]
ITEMS = ["oat latte", "cappuccino", "flat white", "green tea", "hot chocolate", "iced mocha", "chai latte",
         "espresso", "lemonade", "orange juice", "blueberry muffin", "croissant", "bagel", "brownie",
         "cheese toastie", "banana bread", "cinnamon roll", "fruit salad"]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve"]
# How customers say each size; the schema has three values only.
SIZE_WORDS = {"small": ["small", "little"], "medium": ["medium", "regular"], "large": ["large", "big"]}
DELIVERY = {True: ["delivered", "for delivery", "sent over"], False: ["for pickup", "to collect", "to take away"]}
TEMPLATES = [
    "Hi, this is {name}. Could I get {qty} {size} {item} {mode}?",
    "{name} here - {qty} {size} {item} {mode}, please.",
    "Order for {name}: {qty} x {item}, size {size}, {mode}.",
    "Can I have {qty} {size} {item} {mode}? Name's {name}.",
    "hey it's {name}!! {qty} {item} ({size}) {mode} thanks",
    "Good morning. I would like {qty} {size} {item} {mode}. My name is {name}.",
    "{qty} {size} {item} {mode} for {name}, cheers",
    "Please put me down for {qty} {item}, {size} size, {mode}. - {name}",
]


def make_order(rng: random.Random) -> tuple[str, dict]:
    """One customer message and the JSON it should become."""
    target = {
        "name": rng.choice(NAMES),
        "item": rng.choice(ITEMS),
        "quantity": rng.randint(1, 12),
        "size": rng.choice(list(SIZE_WORDS)),
        "delivery": rng.random() < 0.5,
    }
    quantity = str(target["quantity"]) if rng.random() < 0.5 else NUMBER_WORDS[target["quantity"]]
    text = rng.choice(TEMPLATES).format(
        name=target["name"], qty=quantity, item=target["item"],
        size=rng.choice(SIZE_WORDS[target["size"]]), mode=rng.choice(DELIVERY[target["delivery"]]),
    )
    return text, target


def make_examples(count: int, seed: int = 0) -> list[dict]:
    """`count` distinct chat examples (no message repeats, so a split cannot leak)."""
    rng = random.Random(seed)
    seen, examples = set(), []
    while len(examples) < count:
        text, target = make_order(rng)
        if text in seen:
            continue
        seen.add(text)
        examples.append({"messages": [
            {"role": "user", "content": text},
            {"role": "assistant", "content": json.dumps(target)},
        ]})
    return examples


def write_jsonl(path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
