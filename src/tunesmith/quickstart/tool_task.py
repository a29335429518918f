"""The tool-calling example task: requests to an assistant with three functions (weather, currency conversion,
calendar), in OpenAI's chat format with `tools`, generated deterministically.

Most rows end with the call the request needs (one call, or two when it asks for two things); some are chit-chat
or questions the functions cannot answer, which want a plain answer and no call; some carry the tool result and
end with the answer written from it. Requests vary the way real ones do: many phrasings, currency names or codes,
amounts with separators, cities in any case, irrelevant clauses and the odd typo. The arguments are always exact.
"""

from __future__ import annotations

import json
import random

from tunesmith.quickstart.orders import add_typos

SYSTEM_PROMPT = "You are a helpful assistant. Call a function when the request needs one; otherwise answer briefly."
TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "convert_currency", "description": "Convert an amount of money between currencies",
        "parameters": {"type": "object", "properties": {
            "amount": {"type": "number"}, "from_currency": {"type": "string", "description": "ISO code"},
            "to_currency": {"type": "string", "description": "ISO code"}},
            "required": ["amount", "from_currency", "to_currency"]}}},
    {"type": "function", "function": {
        "name": "create_event", "description": "Add an event to the user's calendar",
        "parameters": {"type": "object", "properties": {
            "title": {"type": "string"}, "date": {"type": "string", "description": "YYYY-MM-DD"},
            "time": {"type": "string", "description": "HH:MM, 24-hour"}},
            "required": ["title", "date"]}}},
]
CITIES = ["Oslo", "Lisbon", "Nairobi", "Osaka", "Lima", "Toronto", "Cairo", "Hanoi", "Zurich", "Denver", "Porto",
          "Seoul", "Accra", "Perth", "Quito", "Dublin", "Krakow", "Austin", "Mumbai", "Tallinn", "Havana", "Bergen"]
CURRENCIES = {"EUR": ["euros", "EUR", "euro"], "USD": ["dollars", "USD", "US dollars"], "GBP": ["pounds", "GBP"],
              "JPY": ["yen", "JPY"], "CHF": ["Swiss francs", "CHF"], "INR": ["rupees", "INR"],
              "CAD": ["Canadian dollars", "CAD"], "NOK": ["Norwegian kroner", "NOK"]}
EVENTS = ["dentist", "team standup", "call with mum", "yoga class", "project review", "flight to Rome",
          "book club", "car service", "lunch with Sam", "piano lesson"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEATHER = ["What's the weather in {city}?", "how warm is it in {city} right now", "Is it raining in {city}?",
           "Weather for {city} please{unit_phrase}", "I'm flying to {city} tonight, what's it like there{unit_phrase}?",
           "tell me the current weather in {city}{unit_phrase}"]
CONVERT = ["How much is {amount} {src} in {dst}?", "convert {amount} {src} to {dst}",
           "I have {amount} {src}, what is that in {dst}?", "{amount} {src} to {dst} please",
           "Quick one: what do {amount} {src} come to in {dst}?"]
EVENT = ["Put {title} in my calendar on {date}{at}", "add {title} {date}{at}", "Schedule {title} for {date}{at}.",
         "remind me: {title}, {date}{at}", "Can you book {title} on {date}{at}?"]
CHAT = [("Hi there!", "Hello! How can I help?"), ("thanks, that's all", "You're welcome!"),
        ("Who wrote Hamlet?", "William Shakespeare."), ("What's 12 times 3?", "36."),
        ("Can you order me a pizza?", "Sorry, I can't order food; I can check weather, convert currency or add "
                                      "calendar events."),
        ("what can you do", "I can check the weather, convert currencies and add events to your calendar."),
        ("Translate 'thank you' to French", "Merci."), ("good morning", "Good morning! What can I do for you?")]
FILLERS = ["", "", "", " Thanks!", " cheers", " - no rush", " (asking for a friend)"]


def _weather(rng: random.Random) -> tuple[str, dict]:
    city, unit = rng.choice(CITIES), rng.choice([None, None, "celsius", "fahrenheit"])
    phrase = {None: "", "celsius": " in celsius", "fahrenheit": " in Fahrenheit"}[unit]
    shown = rng.choice([city, city, city.lower(), city.upper()])
    text = rng.choice(WEATHER).format(city=shown, unit_phrase=phrase)
    return text, {"name": "get_weather", "arguments": {"city": city, **({"unit": unit} if unit else {})}}


def _amount(rng: random.Random) -> tuple[str, float | int]:
    value = rng.choice([rng.randint(2, 99), rng.randint(100, 5000), round(rng.uniform(1, 300), 2)])
    if isinstance(value, int) and value >= 1000 and rng.random() < 0.5:
        return f"{value:,}", value
    return str(value), value


def _convert(rng: random.Random) -> tuple[str, dict]:
    src, dst = rng.sample(sorted(CURRENCIES), 2)
    shown, amount = _amount(rng)
    text = rng.choice(CONVERT).format(amount=shown, src=rng.choice(CURRENCIES[src]), dst=rng.choice(CURRENCIES[dst]))
    return text, {"name": "convert_currency", "arguments": {"amount": amount, "from_currency": src,
                                                            "to_currency": dst}}


def _event(rng: random.Random) -> tuple[str, dict]:
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    date = f"2027-{month:02d}-{day:02d}"
    shown = rng.choice([date, f"{MONTHS[month - 1]} {day}", f"{day} {MONTHS[month - 1]}"])
    hour, minute = rng.randint(7, 20), rng.choice([0, 0, 15, 30, 45])
    time = f"{hour:02d}:{minute:02d}" if rng.random() < 0.6 else None
    at = "" if time is None else rng.choice([f" at {time}", f" at {hour % 12 or 12}:{minute:02d} "
                                                            f"{'am' if hour < 12 else 'pm'}"])
    title = rng.choice(EVENTS)
    text = rng.choice(EVENT).format(title=title, date=shown, at=at)
    return text, {"name": "create_event", "arguments": {"title": title, "date": date, **({"time": time} if time else {})}}


MAKERS = (_weather, _convert, _event)


def _call_message(calls: list[dict], first_id: int) -> dict:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": f"call_{first_id + i}", "type": "function",
         "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}} for i, c in enumerate(calls)]}


def _result(call: dict, rng: random.Random) -> tuple[dict, str]:
    """A plausible tool result and the sentence an assistant writes from it."""
    args = call["arguments"]
    if call["name"] == "get_weather":
        temp, sky = rng.randint(-5, 35), rng.choice(["sunny", "cloudy", "raining", "windy"])
        return {"temperature": temp, "conditions": sky}, f"It is {temp} degrees and {sky} in {args['city']}."
    if call["name"] == "convert_currency":
        value = round(float(args["amount"]) * rng.uniform(0.5, 1.5), 2)
        return ({"converted": value}, f"{args['amount']} {args['from_currency']} is about {value} "
                                      f"{args['to_currency']}.")
    return {"status": "created"}, f"Done: {args['title']} is in your calendar on {args['date']}."


def _request(rng: random.Random) -> tuple[str, list[dict]]:
    if rng.random() < 0.2:  # two things at once
        (a, first), (b, second) = rng.choice(MAKERS)(rng), rng.choice(MAKERS)(rng)
        joiner = rng.choice([" and also ", ". Also, ", "; and "])
        return a.rstrip(".?!") + joiner + b[0].lower() + b[1:], [first, second]
    text, call = rng.choice(MAKERS)(rng)
    return text, [call]


def make_tool_example(rng: random.Random, hard: bool = True) -> dict:
    """One row: a call to make (70%), a plain answer (15%), or the answer from a tool result (15%)."""
    system = {"role": "system", "content": SYSTEM_PROMPT}
    kind = rng.random()
    if kind < 0.15:
        question, answer = rng.choice(CHAT)
        return {"tools": TOOLS, "messages": [system, {"role": "user", "content": question},
                                              {"role": "assistant", "content": answer}]}
    text, calls = _request(rng)
    if hard:
        text = add_typos(text + rng.choice(FILLERS), rng, rate=0.03,
                         protect=frozenset(w.lower() for c in calls for v in c["arguments"].values()
                                           for w in str(v).split()))
    messages = [system, {"role": "user", "content": text}, _call_message(calls, 1)]
    if kind < 0.30 and len(calls) == 1:
        result, answer = _result(calls[0], rng)
        messages += [{"role": "tool", "tool_call_id": "call_1", "content": json.dumps(result)},
                     {"role": "assistant", "content": answer}]
    return {"tools": TOOLS, "messages": messages}


def make_tool_examples(count: int, seed: int = 0, hard: bool = True) -> list[dict]:
    rng = random.Random(seed)
    return [make_tool_example(rng, hard) for _ in range(count)]
