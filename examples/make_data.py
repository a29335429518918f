"""Regenerate the example datasets shipped in examples/data/ (deterministic: same files every time).

    .venv/bin/python examples/make_data.py
"""

import json
from pathlib import Path

from tunesmith.quickstart.intents import STAGES, make_intent_stage
from tunesmith.quickstart.reviews import make_order_preferences, make_reviews
from tunesmith.quickstart.tool_task import make_tool_examples

HERE = Path(__file__).parent / "data"


def write(name: str, rows: list[dict]) -> None:
    HERE.mkdir(exist_ok=True)
    (HERE / name).write_text("".join(json.dumps(row) + "\n" for row in rows))


if __name__ == "__main__":
    write("reviews.jsonl", make_reviews(1000, seed=1))
    write("order_preferences.jsonl", make_order_preferences(240, seed=2))
    write("tool_calls_train.jsonl", make_tool_examples(240, seed=3))
    write("tool_calls_test.jsonl", make_tool_examples(60, seed=4))
    for stage in range(len(STAGES)):
        write(f"intents_{stage + 1}_train.jsonl", make_intent_stage(stage, 240, seed=5))
        write(f"intents_{stage + 1}_test.jsonl", make_intent_stage(stage, 90, seed=6))
    # every intent at once, for federated fine-tuning (examples/federated_intents.yaml)
    write("intents_all_train.jsonl", [r for stage in range(len(STAGES)) for r in make_intent_stage(stage, 240, seed=7)])
    write("intents_all_test.jsonl", [r for stage in range(len(STAGES)) for r in make_intent_stage(stage, 90, seed=8)])
    print(f"wrote intents_*_train/test.jsonl, intents_all_train/test.jsonl, reviews.jsonl, order_preferences.jsonl, tool_calls_train.jsonl and tool_calls_test.jsonl to {HERE}")
