"""The continual-learning example: customer-support messages routed to an intent, arriving in three stages.

A shop's support classifier is first trained on billing, shipping and returns; months later the shop adds accounts
and a mobile app (account_access, technical_issue), then subscriptions (cancellation, feedback). Each stage brings
only the new intents' messages, and the classifier must still route every intent: the classic class-incremental
sequence, where training on the new stage alone makes a model stop predicting the old intents.

Messages are written the way customers write: many openings and phrasings per intent, order numbers, amounts and
dates, polite or angry, typos and odd casing, some with an unrelated sentence of context, and intents that share
words (a refund is billing, a return label is returns; "cancel my order" is shipping, "cancel my plan" is
cancellation). About 4% of the rows carry another intent of their stage, the way agents mislabel tickets, so no
model scores 100%. Deterministic for a seed.
"""

from __future__ import annotations

import random

from tunesmith.quickstart.orders import add_typos, vary_case

STAGES = [["billing", "shipping", "returns"], ["account_access", "technical_issue"], ["cancellation", "feedback"]]

PHRASES = {
    "billing": ["I was charged twice for order {order}", "why is there a charge of {amount} on my card",
                "my invoice shows the wrong amount", "the refund of {amount} never reached my account",
                "can I get a VAT invoice for my last purchase", "you billed me {amount} instead of {amount2}",
                "my payment went through but the order says unpaid", "the discount code was not applied to my bill",
                "how do I change the card you charge", "there's a pending charge I don't recognise",
                "I paid by bank transfer on {date}, has it arrived", "the price at checkout was higher than listed"],
    "shipping": ["where is my parcel, order {order}", "my package still hasn't arrived after {days} days",
                 "tracking for {order} hasn't moved since {date}", "can you deliver to a different address",
                 "the courier says delivered but nothing came", "how long does express delivery take",
                 "can I cancel my order {order} before it ships", "do you ship to {country}",
                 "the delivery was left with a neighbour I don't know", "my order was split, where is the rest",
                 "can I pick the parcel up at a locker instead", "the box arrived crushed and late"],
    "returns": ["how do I return the shoes from order {order}", "I need a return label",
                "the jacket doesn't fit, can I exchange it for a larger size", "is the return window 30 days",
                "I sent the item back on {date}, did you get it", "the item is faulty and I want to send it back",
                "can I return something I bought in the sale", "do I have to pay for return postage",
                "you sent the wrong colour, I want to swap it", "where do I drop off a return",
                "my return was rejected, why", "I want to exchange the blender for another model"],
    "account_access": ["I can't log in to my account", "the password reset email never arrives",
                       "my account is locked after too many attempts", "how do I change the email on my account",
                       "I don't get the two-factor code by text", "someone else may be using my account",
                       "it says my username doesn't exist", "how do I delete my account and my data",
                       "I signed up with {email} but lost access to it", "the login link has expired",
                       "I'm logged out every time I close the browser", "can I merge my two accounts"],
    "technical_issue": ["the app crashes when I open my basket", "the website shows an error at checkout",
                        "images don't load on the product pages", "the app is stuck on the loading screen",
                        "I get error {code} when I pay", "the search returns nothing for any word",
                        "the page freezes on my phone", "notifications from the app stopped working",
                        "the app won't install on my {device}", "buttons don't respond in the new version",
                        "the site is very slow since the update", "the barcode scanner in the app doesn't work"],
    "cancellation": ["please cancel my subscription", "I want to end my membership before it renews",
                     "how do I stop the monthly plan", "cancel my premium plan from {date}",
                     "I no longer want the delivery pass, end it", "turn off auto-renewal on my membership",
                     "I'd like to close my subscription, it's too expensive", "unsubscribe me from the box plan",
                     "end my trial so I'm not charged", "I want to cancel the plan, not my order",
                     "stop my subscription after this month", "how do I quit the loyalty membership"],
    "feedback": ["your delivery driver was really friendly", "I love the new app design",
                 "just wanted to say the support team was great", "the packaging uses far too much plastic",
                 "you should add more sizes for kids", "the product descriptions could be clearer",
                 "great service as always, thank you", "I'd like to suggest a dark mode for the app",
                 "the quality of the towels has gone down", "please bring back the old checkout page",
                 "your prices are fair and the range is good", "the recipe cards in the box are a nice touch"],
}
OPENINGS = ["", "", "Hi, ", "Hello, ", "Hey - ", "Good morning. ", "Hi there, ", "Dear support, ", "Quick question: ",
            "Urgent: ", "Sorry to bother you, "]
CLOSINGS = ["", "", "", " Thanks.", " Thank you!", " Please help.", " Cheers", " Regards, Sam", " ASAP please.",
            " This is the second time I write."]
CONTEXT = ["I'm writing from my phone.", "I've been a customer for years.", "It was a birthday present.",
           "I'm travelling next week.", "My partner placed the order.", "I already tried the help page."]
FILL = {"amount": ["€12.99", "$45", "£7.50", "19 euros", "$120.00"], "amount2": ["€9.99", "$40", "£5"],
        "order": ["#48213", "A-99120", "70331", "#A1184", "no. 55120"], "date": ["Monday", "3 March", "the 14th",
        "last week", "12/05"], "days": ["5", "ten", "12", "3"], "country": ["Norway", "Canada", "Ireland", "Japan"],
        "email": ["my old work address", "a hotmail address"], "code": ["500", "E-42", "403"],
        "device": ["iPhone", "old Android tablet", "Pixel"]}


def _message(rng: random.Random, intent: str) -> str:
    text = rng.choice(PHRASES[intent])
    for slot, values in FILL.items():
        text = text.replace("{" + slot + "}", rng.choice(values))
    opening = rng.choice(OPENINGS)
    text = opening + (text if opening.endswith((". ", ": ")) or not opening else text)
    if rng.random() < 0.2:
        text = rng.choice(CONTEXT) + " " + text[0].upper() + text[1:]
    text = (text[0].upper() + text[1:]).rstrip() + rng.choice(["", ".", "?", "!", "??"]) + rng.choice(CLOSINGS)
    if rng.random() < 0.3:
        text = add_typos(text, rng, rate=rng.choice([0.05, 0.1]))
    return vary_case(text, rng)


def make_intent_stage(stage: int, count: int, seed: int, noise: float = 0.04) -> list[dict]:
    """`count` messages of stage `stage`'s intents (0, 1 or 2), balanced, shuffled, unique texts; a `noise` share
    of them labelled with another of the stage's intents."""
    rng = random.Random(seed * 10 + stage)
    intents, rows, seen = STAGES[stage], [], set()
    while len(rows) < count:
        intent = intents[len(rows) % len(intents)]
        text = _message(rng, intent)
        if text.lower() not in seen:
            seen.add(text.lower())
            wrong = rng.random() < noise
            rows.append({"text": text, "label": rng.choice([i for i in intents if i != intent]) if wrong else intent})
    rng.shuffle(rows)
    return rows
