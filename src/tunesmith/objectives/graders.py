"""OpenAI fine-tuning graders as GRPO rewards: `objective.reward: grader:FILE.json` (what `tunesmith import-openai`
writes for a reinforcement job).

Supported: string_check (eq, ne, like, ilike), text_similarity (fuzzy_match, rouge_1 ... rouge_5, rouge_l, bleu),
python (their `grade(sample, item)` source, run here), and multi (named graders combined by `calculate_output`,
an arithmetic expression). score_model and label_model need a judge model and have no equivalent here (use a
reward_model run as objective.reward); text_similarity's cosine (embeddings), gleu and meteor neither.

Templates: `{{sample.output_text}}` is the completion, `{{sample.output_json.KEY}}` a field of it parsed as JSON,
`{{item.KEY}}` a field of the row. A row's fields reach the reward as its reference: the single field a grader
names (import-openai writes it as the row's last assistant message), or, when the reference is a JSON object,
all of them.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import re
from collections import Counter
from difflib import SequenceMatcher
from pathlib import Path

from tunesmith.errors import UserError
from tunesmith.metrics.text import longest_common_subsequence, parse_json, words

TEMPLATE = re.compile(r"\{\{\s*(sample|item)\.([\w.]+)\s*\}\}")
NO_EQUIVALENT = {"score_model": "it asks a judge model for a score", "label_model": "it asks a judge model for a label"}
OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
             ast.USub: operator.neg, ast.UAdd: operator.pos}
FUNCTIONS = {"min": min, "max": max, "abs": abs, "round": round}


def _lookup(value, path: list[str]):
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def fill(template, sample: dict, item: dict) -> str:
    """A grader's input/reference with its {{sample.*}} and {{item.*}} fields filled in."""
    if not isinstance(template, str):
        return "" if template is None else str(template)

    def value(match: re.Match) -> str:
        found = _lookup({"sample": sample, "item": item}[match.group(1)], match.group(2).split("."))
        return "" if found is None else found if isinstance(found, str) else json.dumps(found)

    return TEMPLATE.sub(value, template)


def _string_check(grader: dict, sample: dict, item: dict) -> float:
    given, wanted = fill(grader.get("input"), sample, item), fill(grader.get("reference"), sample, item)
    checks = {"eq": lambda: given == wanted, "ne": lambda: given != wanted, "like": lambda: wanted in given,
              "ilike": lambda: wanted.lower() in given.lower()}
    return float(checks[grader.get("operation", "eq")]())


def _rouge_n(n: int, a: list[str], b: list[str]) -> float:
    grams = lambda ws: Counter(tuple(ws[i:i + n]) for i in range(len(ws) - n + 1))  # noqa: E731
    got, want = grams(a), grams(b)
    overlap = sum((got & want).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(got.values()), overlap / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def bleu(candidate: list[str], reference: list[str], max_n: int = 4) -> float:
    """Sentence BLEU (geometric mean of 1..4-gram precisions, +1 smoothed above unigrams, brevity penalty)."""
    if not candidate or not reference:
        return 0.0
    logs = []
    for n in range(1, max_n + 1):
        got = Counter(tuple(candidate[i:i + n]) for i in range(len(candidate) - n + 1))
        want = Counter(tuple(reference[i:i + n]) for i in range(len(reference) - n + 1))
        hits, total = sum((got & want).values()), max(sum(got.values()), 1)
        if n == 1 and not hits:
            return 0.0
        logs.append(math.log((hits + (n > 1)) / (total + (n > 1))))
    brevity = min(1.0, math.exp(1 - len(reference) / len(candidate)))
    return brevity * math.exp(sum(logs) / max_n)


def similarity(metric: str, given: str, wanted: str) -> float:
    a, b = words(given), words(wanted)
    if metric == "fuzzy_match":
        return SequenceMatcher(None, given, wanted).ratio()
    if metric == "rouge_l":
        lcs = longest_common_subsequence(a, b)
        return 0.0 if not lcs else 2 * lcs / (len(a) + len(b))
    if metric.startswith("rouge_") and metric[6:].isdigit():
        return _rouge_n(int(metric[6:]), a, b)
    if metric == "bleu":
        return bleu(a, b)
    raise UserError(f"text_similarity metric '{metric}' has no equivalent here (fuzzy_match, rouge_1 ... rouge_5, "
                    "rouge_l and bleu do)")


def _text_similarity(grader: dict, sample: dict, item: dict) -> float:
    score = similarity(grader.get("evaluation_metric", "fuzzy_match"), fill(grader.get("input"), sample, item),
                       fill(grader.get("reference"), sample, item))
    threshold = grader.get("pass_threshold")
    return score if threshold is None else float(score >= threshold)


def _python(grader: dict):
    scope: dict = {}
    try:
        exec(compile(grader["source"], f"<grader {grader.get('name', 'python')}>", "exec"), scope)  # noqa: S102
    except (SyntaxError, KeyError) as exc:
        raise UserError(f"python grader {grader.get('name', '')}: its source does not compile ({exc})") from None
    if not callable(scope.get("grade")):
        raise UserError(f"python grader {grader.get('name', '')}: its source defines no grade(sample, item)")
    return lambda g, sample, item: float(scope["grade"](sample, item))


def calculate(expression: str, values: dict[str, float]) -> float:
    """A multi grader's calculate_output: + - * / on the graders' scores, numbers, min/max/abs/round."""
    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.Name) and node.id in values:
            return values[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            return OPERATORS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in OPERATORS:
            return OPERATORS[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
            return FUNCTIONS[node.func.id](*map(walk, node.args))
        raise UserError(f"multi grader: calculate_output '{expression}' uses something other than the graders' "
                        f"names ({', '.join(values)}), numbers, + - * / and min/max/abs/round")

    return float(walk(ast.parse(expression, mode="eval")))


def scorer(grader: dict):
    """(grader, sample, item) -> score for one grader definition; unsupported kinds fail here, before training."""
    kind = grader.get("type")
    if kind in NO_EQUIVALENT:
        raise UserError(f"grader type {kind} has no equivalent here: {NO_EQUIVALENT[kind]}",
                        hint="train a reward model (objective.name: reward_model) and give its run as "
                             "objective.reward")
    if kind == "string_check":
        return _string_check
    if kind == "text_similarity":
        similarity(grader.get("evaluation_metric", "fuzzy_match"), "", "")  # an unknown metric fails now
        return _text_similarity
    if kind == "python":
        return _python(grader)
    if kind == "multi":
        parts = {name: (g, scorer(g)) for name, g in grader.get("graders", {}).items()}
        calculate(grader.get("calculate_output", "0"), {name: 0.0 for name in parts})
        return lambda g, sample, item: calculate(g["calculate_output"], {
            name: score(part, sample, item) for name, (part, score) in parts.items()})
    raise UserError(f"grader type '{kind}' is not one of string_check, text_similarity, python, multi")


def item_of(reference: str, field: str | None) -> dict:
    """The row's fields from its reference: a JSON object of them, or the one field the grader names."""
    value = parse_json(reference) if reference.lstrip().startswith("{") else None
    if isinstance(value, dict):
        return value
    return {field or "reference": reference}


def referenced_fields(grader: dict) -> list[str]:
    """The {{item.*}} fields a grader reads, in order of first use."""
    found = TEMPLATE.findall(json.dumps(grader))
    return list(dict.fromkeys(path.split(".")[0] for scope, path in found if scope == "item"))


def grader_reward(path: str):
    """A TRL reward function (prompts, completions, reference) from an OpenAI grader JSON file."""
    try:
        grader = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"objective.reward grader:{path}: cannot read the grader ({exc})") from None
    score, fields = scorer(grader), referenced_fields(grader)

    def reward(prompts, completions, reference, **kwargs) -> list[float]:
        out = []
        for completion, ref in zip(completions, reference):
            text = completion[-1]["content"] if isinstance(completion, list) else completion
            sample = {"output_text": text, "output_json": parse_json(text)}
            out.append(score(grader, sample, item_of(ref, fields[0] if len(fields) == 1 else None)))
        return out

    reward.__name__ = f"grader_{grader.get('name', grader.get('type', 'openai'))}"
    return reward
