"""The quickstart task: free-text café orders turned into one fixed JSON schema, generated deterministically.

By default the orders read like real ones: many phrasings, plurals and nicknames for items ("2 hot chocs", "OJ"),
quantities as digits, words or "half a dozen", the odd correction ("three, no, four"), other numbers that are not
the quantity (an address, a time), irrelevant chatter, typos and odd casing. The JSON target is always exact.
`hard=False` gives the old, uniform orders (eight templates, no noise).
"""

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

# The hard variant. Each item: ways to say one of it, and ways to say several.
ITEM_WORDS = {
    "oat latte": (["oat latte", "oat milk latte", "latte with oat milk"],
                  ["oat lattes", "oat milk lattes", "lattes with oat milk"]),
    "cappuccino": (["cappuccino", "cappucino", "cap"], ["cappuccinos", "cappucinos", "caps"]),
    "flat white": (["flat white"], ["flat whites"]),
    "green tea": (["green tea", "cup of green tea"], ["green teas", "cups of green tea"]),
    "hot chocolate": (["hot chocolate", "hot choc"], ["hot chocolates", "hot chocs"]),
    "iced mocha": (["iced mocha", "mocha on ice"], ["iced mochas", "mochas on ice"]),
    "chai latte": (["chai latte", "chai"], ["chai lattes", "chais"]),
    "espresso": (["espresso", "expresso", "shot of espresso"], ["espressos", "expressos", "shots of espresso"]),
    "lemonade": (["lemonade", "glass of lemonade"], ["lemonades", "glasses of lemonade"]),
    "orange juice": (["orange juice", "OJ", "fresh orange juice"], ["orange juices", "OJs", "fresh orange juices"]),
    "blueberry muffin": (["blueberry muffin", "muffin, blueberry"], ["blueberry muffins", "muffins, blueberry"]),
    "croissant": (["croissant", "croisant"], ["croissants", "croisants"]),
    "bagel": (["bagel"], ["bagels"]),
    "brownie": (["brownie", "chocolate brownie"], ["brownies", "chocolate brownies"]),
    "cheese toastie": (["cheese toastie", "toasted cheese sandwich"], ["cheese toasties", "toasted cheese sandwiches"]),
    "banana bread": (["banana bread", "slice of banana bread"], ["banana breads", "slices of banana bread"]),
    "cinnamon roll": (["cinnamon roll", "cinnamon bun"], ["cinnamon rolls", "cinnamon buns"]),
    "fruit salad": (["fruit salad", "fruit salad pot"], ["fruit salads", "fruit salad pots"]),
}
HARD_SIZES = {"small": ["small", "little", "short", "smallest", "kid-size"],
              "medium": ["medium", "regular", "standard", "normal", "medium-sized"],
              "large": ["large", "big", "biggest", "large-size", "extra big"]}
HARD_DELIVERY = {
    True: ["delivered", "for delivery", "sent over", "delivered to my office", "brought to {n} Park Road",
           "delivered to flat {n}", "sent to the studio on floor {n}", "dropped off at my desk",
           "as a delivery, not pickup", "brought round, I can't leave the shop"],
    False: ["for pickup", "to collect", "to take away", "as takeaway", "for collection at {t}",
            "to pick up myself, no delivery", "and I'll swing by for it", "ready at the counter around {t}",
            "to go, I'll grab it", "- I'll collect, no need to deliver"],
}
GREETINGS = ["", "", "Hi, ", "Hello! ", "hey ", "Good morning. ", "Morning! ", "Hiya, ", "Good afternoon, ", "Yo ",
             "Hi there, "]
INTROS = ["this is {name}.", "{name} here.", "it's {name}!", "my name is {name}.", "{name} speaking.",
          "{name} from upstairs here."]
SIGNOFFS = ["- {name}", "Thanks, {name}", "Name's {name}.", "It's for {name}.", "Under the name {name}, please.",
            "cheers, {name}", "({name})", "Put it under {name}."]
ASKS = ["Could I get {order}?", "Can I have {order}?", "I'd like {order}, please.", "{order}, please.",
        "Please put me down for {order}.", "I would like to order {order}.", "Could you do {order}?",
        "Order: {order}.", "Need {order} asap.", "{order} thanks", "Can we get {order}?",
        "I'll take {order}."]
# Said beside the order; some carry numbers that are not the quantity.
CHATTER = ["It's my first time ordering.", "Running a bit late today.", "Love your new menu!",
           "Paying by card.", "The wifi here is great btw.", "It's raining again.", "My {k} kids say hi.",
           "I was in yesterday too.", "Meeting starts at {t}.", "Happy Friday!", "Room {n} if anyone asks.",
           "Sorry for the short notice.", "Keep the change.", "Order #{big} from last week was perfect."]
SPECIAL_QUANTITIES = {12: ["a dozen"], 6: ["half a dozen"], 2: ["a couple of", "a pair of"], 1: ["a", "just one"]}


def add_typos(text: str, rng: random.Random, rate: float = 0.06, protect: frozenset = frozenset()) -> str:
    """Swap, drop or double a letter in about `rate` of the words of four letters or more (not in `protect`)."""
    words = text.split(" ")
    for i, word in enumerate(words):
        core = word.rstrip(".,!?:;)")
        if len(core) < 4 or not core.isalpha() or core.lower() in protect or rng.random() >= rate:
            continue
        j = rng.randrange(1, len(core) - 1)
        kind = rng.choice(["swap", "drop", "double"])
        if kind == "swap":
            core = core[:j] + core[j + 1] + core[j] + core[j + 2:]
        elif kind == "drop":
            core = core[:j] + core[j + 1:]
        else:
            core = core[:j] + core[j] + core[j:]
        words[i] = core + word[len(word.rstrip(".,!?:;)")):]
    return " ".join(words)


def vary_case(text: str, rng: random.Random) -> str:
    """Mostly as written; sometimes all lower case, all capitals, or one word shouted."""
    r = rng.random()
    if r < 0.2:
        return text.lower()
    if r < 0.25:
        return text.upper()
    if r < 0.33:
        words = text.split(" ")
        i = rng.randrange(len(words))
        words[i] = words[i].upper()
        return " ".join(words)
    return text


def _fill(template: str, rng: random.Random) -> str:
    """Put other numbers (not the quantity) into chatter and addresses."""
    return template.format(n=rng.randint(2, 40), k=rng.randint(2, 4), t=rng.choice(["9", "10:30", "noon", "3pm", "5:15", "8am"]),
                           big=rng.randint(100, 999))


def _quantity_words(quantity: int, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.08:  # a correction: the last number counts
        wrong = rng.choice([q for q in range(1, 13) if q != quantity])
        said = lambda q: str(q) if rng.random() < 0.5 else NUMBER_WORDS[q]  # noqa: E731
        return f"{said(wrong)}, {rng.choice(['no wait', 'sorry, make that', 'actually', 'no,'])} {said(quantity)}"
    if quantity in SPECIAL_QUANTITIES and r < 0.3:
        return rng.choice(SPECIAL_QUANTITIES[quantity])
    return str(quantity) if r < 0.62 else NUMBER_WORDS[quantity]


def _hard_order(rng: random.Random) -> tuple[str, dict]:
    target = {
        "name": rng.choice(NAMES),
        "item": rng.choice(ITEMS),
        "quantity": rng.randint(1, 12),
        "size": rng.choice(list(HARD_SIZES)),
        "delivery": rng.random() < 0.5,
    }
    qty = _quantity_words(target["quantity"], rng)
    singular, plural = ITEM_WORDS[target["item"]]
    # Several are mostly said in the plural, now and then not ("3 bagel").
    item = rng.choice(singular if target["quantity"] == 1 or rng.random() < 0.15 else plural)
    if qty == "a" and (item[0] in "aeiou" or item == "OJ"):
        qty = "an"
    size = rng.choice(HARD_SIZES[target["size"]])
    mode = _fill(rng.choice(HARD_DELIVERY[target["delivery"]]), rng)
    order = rng.choice([f"{qty} {size} {item} {mode}", f"{qty} {size} {item} {mode}", f"{qty} {item}, {size}, {mode}",
                        f"{qty} {item} ({size}) {mode}", f"{qty} x {item}, size {size}, {mode}",
                        f"{qty} {item} in {size} {mode}"])
    parts = [rng.choice(ASKS).format(order=order)]
    if rng.random() < 0.5:
        parts.insert(0, rng.choice(GREETINGS) + rng.choice(INTROS).format(name=target["name"]))
    else:
        greeting = rng.choice(GREETINGS).strip(" ,.!")
        parts.insert(0, greeting and greeting + rng.choice(["!", ".", ""]))
        parts.append(rng.choice(SIGNOFFS).format(name=target["name"]))
    if rng.random() < 0.35:  # irrelevant chatter before or after the order
        parts.insert(rng.choice([1, len(parts)]), _fill(rng.choice(CHATTER), rng))
    text = " ".join(p for p in parts if p)
    text = text[0].upper() + text[1:]
    if rng.random() < 0.3:
        protect = frozenset(n.lower() for n in NAMES + NUMBER_WORDS)
        text = add_typos(text, rng, rate=rng.choice([0.05, 0.1, 0.15]), protect=protect)
    return vary_case(text, rng), target


def make_order(rng: random.Random, hard: bool = True) -> tuple[str, dict]:
    """One customer message and the JSON it should become."""
    if hard:
        return _hard_order(rng)
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


def make_examples(count: int, seed: int = 0, hard: bool = True) -> list[dict]:
    """`count` distinct chat examples (no message repeats, so a split cannot leak)."""
    rng = random.Random(seed)
    seen, examples = set(), []
    while len(examples) < count:
        text, target = make_order(rng, hard)
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
