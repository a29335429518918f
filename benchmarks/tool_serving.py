"""Tool calls through the server: serve a tool-calling run, send each held-out row that should end in a call to
/v1/chat/completions with its tools (the official `openai` client, greedy), and count how often the reply comes
back as parseable OpenAI `tool_calls` naming functions of the request, and how often the calls are exactly right.
`parseable_of_model_calls` counts among the replies where the model called at all (it returned `tool_calls`, or
wrote a <tool_call> block the server could not parse and so returned as text); `parseable_tool_calls` among all
call turns, so a plain-text answer where a call was due counts against it.

    .venv/bin/python benchmarks/tool_serving.py RUN [--test examples/data/tool_calls_test.jsonl]

Prints one line per measure and writes benchmarks/results/tool_serving.json with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def call_rows(path: Path) -> list[dict]:
    """Rows whose last message is an assistant call: the request is everything before it."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["messages"][-1].get("tool_calls")]


def expected_calls(row: dict) -> list[tuple[str, str]]:
    return sorted((c["function"]["name"], json.dumps(json.loads(c["function"]["arguments"]), sort_keys=True))
                  for c in row["messages"][-1]["tool_calls"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--test", type=Path, default=ROOT / "examples" / "data" / "tool_calls_test.jsonl")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "tool_serving.json")
    args = parser.parse_args()
    from openai import OpenAI

    from tunesmith.serve import ServeSettings, create_app, load_models, start_in_background

    pool = load_models([f"tools={args.run}"], log=print)
    server = start_in_background(create_app(pool, ServeSettings(max_tokens=256)))
    client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=300)
    rows, parsed, named, exact, started = call_rows(args.test), 0, 0, 0, time.perf_counter()
    attempted = 0  # replies where the model called (returned tool_calls, or wrote a call block the server kept as text)
    try:
        for row in rows:
            reply = client.chat.completions.create(model="tools", messages=row["messages"][:-1], tools=row["tools"],
                                                   temperature=0, max_tokens=256).choices[0]
            calls = reply.message.tool_calls or []
            known = {t["function"]["name"] for t in row["tools"]}
            try:
                got = sorted((c.function.name, json.dumps(json.loads(c.function.arguments), sort_keys=True))
                             for c in calls)
            except json.JSONDecodeError:
                got = None
            attempted += bool(calls) or "<tool_call>" in (reply.message.content or "")
            parsed += bool(calls) and got is not None and reply.finish_reason == "tool_calls"
            named += bool(calls) and all(c.function.name in known for c in calls)
            exact += got == expected_calls(row)
    finally:
        server.stop()
    seconds = time.perf_counter() - started
    result = {"run": str(args.run), "call_turns": len(rows), "model_called": attempted,
              "parseable_of_model_calls": parsed / max(attempted, 1), "parseable_tool_calls": parsed / len(rows),
              "known_function_names": named / len(rows), "exact_calls": exact / len(rows),
              "seconds": round(seconds, 1),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"}
    for key, value in result.items():
        print(f"{key}: {value:.1%}" if isinstance(value, float) and key != "seconds" else f"{key}: {value}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
