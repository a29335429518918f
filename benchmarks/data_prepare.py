"""Benchmark the data stage: clean + exact and near dedup + split of 200,000 generated rows of 40-80 words.

Target on the 2-core CPU machine: under 90 s and under 2 GB peak memory. Run:
    .venv/bin/python benchmarks/data_prepare.py [--rows 200000]
Prints rows/s, the time of each phase and peak RSS (this process and its worker processes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

WORDS = [f"{stem}{suffix}" for stem in ("data", "model", "train", "token", "order", "review", "user", "cloud",
                                         "graph", "layer", "query", "batch", "score", "label", "value")
         for suffix in ("", "s", "ed", "ing", "er", "ly", "ness", "ful", "less", "ment", "able", "ist")] * 3


def make_rows(n: int, seed: int = 0):
    """Distinct rows plus 3% exact copies, 3% near copies and 2% rows with an email or phone number."""
    rng = random.Random(seed)
    vocabulary = [f"{w}{i}" for i, w in enumerate(WORDS)] + [f"w{i}" for i in range(20_000)]
    rows = []
    for i in range(n):
        roll = rng.random()
        if rows and roll < 0.03:
            rows.append(dict(rng.choice(rows)))
            continue
        if rows and roll < 0.06:
            words = rng.choice(rows)["text"].split()
            words[rng.randrange(len(words))] = "changed"
            rows.append({"text": " ".join(words), "label": rows[-1]["label"]})
            continue
        words = rng.choices(vocabulary, k=rng.randint(40, 80))
        if roll < 0.08:
            words.insert(5, f"contact{i}@example.com" if i % 2 else "+44 20 7946 0958")
        rows.append({"text": " ".join(words), "label": rng.choice(["pos", "neg", "neutral"])})
    return rows


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TUNESMITH_HOME"] = str(Path(tmp) / "home")
        from tunesmith.config import DataConfig
        from tunesmith.data.pipeline import prepare_splits

        path = Path(tmp) / "rows.jsonl"
        started = time.perf_counter()
        with path.open("w") as handle:
            for row in make_rows(args.rows):
                handle.write(json.dumps(row) + "\n")
        generated = time.perf_counter() - started
        cfg = DataConfig(train=str(path), validation_size=0.05, test_size=0.05, cache=False)
        started = time.perf_counter()
        splits, report = prepare_splits(cfg, "classification")
        elapsed = time.perf_counter() - started
    source = report["sources"]["train"]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "rows": args.rows, "seconds": round(elapsed, 1), "rows_per_second": round(args.rows / elapsed),
        "peak_rss_mb": round(peak_rss_mb()), "generate_seconds": round(generated, 1),
        "kept": source["kept"], "exact_duplicates": source["dropped_exact_duplicates"],
        "near_duplicates": source["dropped_near_duplicates"],
        "pii": {k: v for k, v in source.items() if k.startswith("pii_") and v},
        "splits": report["rows"], "target": "under 90 s and 2,048 MB",
    }
    print(json.dumps(result, indent=2))
    return 0 if elapsed < 90 and result["peak_rss_mb"] < 2048 else 1


if __name__ == "__main__":
    sys.exit(main())
