"""Example data for classification and preference objectives, generated deterministically.

- `make_reviews`: short movie reviews labelled positive/negative (sentiment classification). By default the data
  is written the way people write: many phrasings of praise and complaint, negations ("not great" is negative,
  "not bad" mildly positive), mixed reviews where a good soundtrack is outweighed by the verdict, star ratings,
  sentiment about things other than the film (the popcorn, the parking), typos, odd casing, about 60/40 positive
  to negative, and a few rows whose label is wrong (label noise, fixed by the seed). A fine-tuned model does well
  on it without reaching 100%, so a better method can show as a better number. `hard=False` gives the old easy
  variant (two sentiment phrases from `POSITIVE`/`NEGATIVE` among neutral filler) for tests that need a signal a
  tiny random model learns in a few steps, or an exact rule.
- `make_order_preferences`: for café orders, the correct JSON (chosen) against a plausible wrong answer (rejected):
  prose, a wrong field, or broken JSON.
"""

from __future__ import annotations

import json
import random

from tunesmith.quickstart.orders import add_typos, make_examples, vary_case

# The easy variant: every phrase below appears only in reviews of its own label.
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

# The hard variant.
FILMS = ["the film", "this movie", "the sequel", "the director's new picture", "the documentary", "it",
         "the thriller", "this comedy", "the remake", "the animated feature", "the new one", "this flick",
         "the biopic", "the horror film", "the musical", "the war drama", "the heist movie", "the romcom",
         "the reboot", "the adaptation"]
ASPECTS = ["the acting", "the script", "the plot", "the soundtrack", "the cinematography", "the pacing",
           "the ending", "the dialogue", "the visuals", "the lead", "the supporting cast", "the editing",
           "the score", "the first act", "the final twist", "the humour", "the set design", "the costumes"]
INTENSIFIERS = ["", "", "", "really ", "very ", "quite ", "pretty ", "genuinely ", "incredibly ", "so ",
                "absolutely ", "rather ", "truly "]
GOOD = ["great", "wonderful", "superb", "excellent", "gripping", "moving", "charming", "sharp", "terrific",
        "lovely", "brilliant", "stunning", "clever", "engaging", "fresh", "touching", "fantastic", "solid",
        "gorgeous", "delightful", "compelling", "outstanding", "well made", "beautifully done", "fun"]
BAD = ["dull", "clumsy", "flat", "tedious", "lifeless", "overlong", "forgettable", "messy", "weak", "awful",
       "terrible", "boring", "dreadful", "poor", "bland", "lazy", "painful", "predictable", "confusing", "cheap",
       "shallow", "grating", "sloppy", "tiresome", "a letdown"]
# Negated phrases: a negated good word is negative, a negated bad word only mildly positive.
NOT_GOOD = ["not great", "not very good", "not exactly brilliant", "not as clever as it thinks", "far from great",
            "not particularly engaging", "not worth the ticket", "not much fun", "never really gripping",
            "hardly a masterpiece", "not good at all", "nowhere near as good as the first one", "not my thing",
            "not something I'd watch again", "no fun at all"]
NOT_BAD = ["not bad", "not bad at all", "not terrible", "never boring", "hardly dull", "not a waste of time",
           "not as predictable as I feared", "anything but dull", "not the mess I expected", "not disappointing",
           "hard to fault", "not half bad", "far from boring", "not forgettable"]
POSITIVE_VERDICTS = ["I loved it", "I'd happily watch it again", "highly recommended", "go see it",
                     "worth every minute", "I enjoyed it a lot", "a must-see", "I'd recommend it",
                     "it won me over", "I left smiling", "easily one of the best this year", "money well spent",
                     "I'd see it again tomorrow", "a real treat", "I can't wait to watch it again"]
NEGATIVE_VERDICTS = ["I hated it", "save your money", "skip it", "a waste of time", "I walked out",
                     "I wouldn't recommend it", "I want those two hours back", "avoid", "I nearly fell asleep",
                     "I regret going", "one of the worst this year", "wait for it to be free, or don't bother",
                     "I couldn't wait for it to end", "don't bother", "I was bored stiff"]
# Sentiment about something other than the film: it must not count.
OFF_TOPIC = {
    "positive": ["The popcorn was great.", "The usher was lovely.", "My friend was wonderful company.",
                 "The seats were really comfortable.", "The tickets were cheap, which was nice.",
                 "The weather was beautiful that evening.", "The cinema itself is brilliant.",
                 "Dinner before it was fantastic."],
    "negative": ["The popcorn was awful.", "Parking was a nightmare.", "The cinema was freezing.",
                 "The person behind me was terrible and kept talking.", "The tickets were overpriced.",
                 "The trailers before it were boring.", "My bus was late, which was annoying.",
                 "The seats were uncomfortable."],
}
NEUTRAL = ["I saw it on a Tuesday.", "It runs just under two hours.", "It is based on a novel.",
           "The story is set in Lisbon.", "My friend chose the cinema.", "There is a short scene after the credits.",
           "I went with my sister.", "It opened last Friday.", "The cast includes several familiar faces.",
           "I watched it at home on a rainy evening.", "It's the third in the series.", "It was filmed in Iceland.",
           "I had read the book first.", "The screening was almost full.", "I knew nothing about it going in.",
           "It's rated PG-13.", "The director also wrote it.", "We went to the late showing."]
OPENERS = ["", "", "", "", "Honestly, ", "Well, ", "So, ", "OK so ", "To be fair, ", "In short: ", "Hmm. ",
           "Just got back. ", "Quick review: "]
BUT = ["but", "but", "though", "yet", "although", "however"]
OVERALL = ["Overall,", "All in all,", "In the end,", "Still,", "On balance,", "Bottom line:", "That said,", "So", ""]
# Phrases for ambiguous reviews, leaning one way only slightly.
LUKEWARM = {
    "positive": ["it's fine, I guess", "it was OK, better than I expected", "decent enough for a Sunday",
                 "it mostly works", "it grew on me", "perfectly watchable", "more good than bad"],
    "negative": ["I expected more", "it was OK, I suppose, but I won't remember it", "meh", "it sort of works, "
                 "until it doesn't", "more bad than good", "mostly a miss", "it never quite comes together"],
}


def _good(rng: random.Random) -> str:
    return rng.choice(INTENSIFIERS) + rng.choice(GOOD)


def _bad(rng: random.Random) -> str:
    return rng.choice(INTENSIFIERS) + rng.choice(BAD)


def _praise(rng: random.Random, label: str, negated: bool = False) -> str:
    """A clause about an aspect or the film that carries `label`'s sentiment."""
    positive = label == "positive"
    if negated:
        word = rng.choice(NOT_BAD if positive else NOT_GOOD)
    else:
        word = _good(rng) if positive else _bad(rng)
    subject = rng.choice(ASPECTS + FILMS)
    verb = rng.choice(["are", "were"] if subject.endswith("s") else ["is", "was"])
    if negated:
        return f"{subject} {verb} {word}"
    return rng.choice([f"{subject} {verb} {word}", f"{subject} {verb} {word}", f"I found {subject} {word}",
                       f"{subject} felt {word}"])


def _verdict(rng: random.Random, label: str) -> str:
    r = rng.random()
    if r < 0.18:  # a rating: the number decides
        scale = rng.choice([10, 5, 10])
        good = label == "positive"
        if scale == 10:
            score = rng.randint(6, 10) if good else rng.randint(1, 4)
            return rng.choice([f"{score}/10", f"{score} out of 10", f"I'd give it a {score}/10"])
        score = rng.randint(4, 5) if good else rng.randint(1, 2)
        return rng.choice([f"{score}/5 stars", f"{score} stars out of 5", f"{score} out of 5"])
    if r < 0.35:
        return f"{rng.choice(FILMS)} is {rng.choice(NOT_BAD if label == 'positive' else NOT_GOOD)}"
    return rng.choice(POSITIVE_VERDICTS if label == "positive" else NEGATIVE_VERDICTS)


def _sentence(clause: str) -> str:
    clause = clause.strip()
    return clause[0].upper() + clause[1:] + ("" if clause[-1] in ".!?" else ".")


def _hard_review(rng: random.Random, label: str) -> str:
    other = "negative" if label == "positive" else "positive"
    kind = rng.choices(["clear", "mixed", "negated", "lukewarm"], weights=[55, 22, 15, 8])[0]
    sentences = []
    if kind == "clear":
        sentences.append(_praise(rng, label))
        if rng.random() < 0.5:
            sentences.append(_praise(rng, label))
        sentences.append(_verdict(rng, label))
    elif kind == "mixed":  # one side praised, the other side wins the verdict
        if rng.random() < 0.5:
            sentences.append(f"{_praise(rng, other)}, {rng.choice(BUT)} {_praise(rng, label)}")
        else:
            sentences.append(f"{rng.choice(['Despite', 'For all', 'Even with'])} {_aspect_phrase(rng, other)}, "
                             f"{_praise(rng, label)}")
        if rng.random() < 0.4:
            sentences.append(_praise(rng, other))
        overall = rng.choice(OVERALL)
        sentences.append(f"{overall} {_verdict(rng, label)}".strip())
    elif kind == "negated":
        sentences.append(_praise(rng, label, negated=True))
        if rng.random() < 0.5:
            sentences.append(_praise(rng, label, negated=rng.random() < 0.5))
        if rng.random() < 0.6:
            sentences.append(_verdict(rng, label))
    else:
        if rng.random() < 0.6:
            sentences.append(f"{_praise(rng, rng.choice([label, other]))}, {rng.choice(BUT)} "
                             f"{_praise(rng, rng.choice([label, other]))}")
        sentences.append(rng.choice(LUKEWARM[label]))
    sentences = [_sentence(s) for s in sentences]
    for _ in range(rng.choices([0, 1, 2], weights=[3, 5, 2])[0]):  # irrelevant clauses
        pool = OFF_TOPIC[rng.choice(["positive", "negative"])] if rng.random() < 0.3 else NEUTRAL
        sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(pool))
    opener, text = rng.choice(OPENERS), " ".join(sentences)
    if opener and not text.startswith("I "):
        text = text[0].lower() + text[1:]
    text = opener + text
    if rng.random() < 0.15:
        text = text.rstrip(".") + rng.choice(["!", "!!", "...", " :)" if label == "positive" else " :("])
    if rng.random() < 0.3:
        text = add_typos(text, rng, rate=rng.choice([0.04, 0.08, 0.12]))
    return vary_case(text, rng)


def _aspect_phrase(rng: random.Random, label: str) -> str:
    """'a clumsy script' / 'the gorgeous visuals': an aspect with an adjective of `label`'s sentiment."""
    aspect = rng.choice(ASPECTS).removeprefix("the ")
    words = [w for w in (GOOD if label == "positive" else BAD) if " " not in w and w not in ("fun",)]
    return f"{rng.choice(['the', 'its', 'a'])} {rng.choice(words)} {aspect}".replace(" a a", " an a")


def _easy_reviews(count: int, seed: int) -> list[dict]:
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


def make_reviews(count: int, seed: int = 0, hard: bool = True, positive_share: float = 0.6,
                 label_noise: float = 0.04) -> list[dict]:
    """`count` distinct reviews as {"text", "label"}; the same `seed` gives the same rows.

    hard: realistic variety (see the module docstring); False: the easy variant, balanced and noise-free.
    positive_share: the fraction of positive reviews (hard only). label_noise: the fraction of rows whose label is
    flipped (hard only): exactly round(count * label_noise) rows, chosen by the seed.
    """
    if not hard:
        return _easy_reviews(count, seed)
    rng = random.Random(seed)
    rows, seen = [], set()
    while len(rows) < count:
        label = "positive" if rng.random() < positive_share else "negative"
        text = _hard_review(rng, label)
        if text.lower() not in seen:
            seen.add(text.lower())
            rows.append({"text": text, "label": label})
    flip = {"positive": "negative", "negative": "positive"}
    for i in rng.sample(range(count), round(count * label_noise)):
        rows[i]["label"] = flip[rows[i]["label"]]
    return rows


def _rejected(target: dict, rng: random.Random) -> str:
    kind = rng.choice(["prose", "wrong_field", "broken"])
    if kind == "prose":
        return f"Sure! {target['name']} wants {target['quantity']} {target['item']}."
    if kind == "wrong_field":
        wrong = dict(target, quantity=target["quantity"] + rng.randint(1, 3), delivery=not target["delivery"])
        return json.dumps(wrong)
    return json.dumps(target)[:-8]


def make_order_preferences(count: int, seed: int = 0, hard: bool = True) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for example in make_examples(count, seed, hard=hard):
        user, assistant = example["messages"]
        rows.append({"prompt": user["content"], "chosen": assistant["content"],
                     "rejected": _rejected(json.loads(assistant["content"]), rng)})
    return rows
