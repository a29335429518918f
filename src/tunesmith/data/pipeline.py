"""The data stage: load → validate → clean → filter → deduplicate → split → leakage check → report, cached.

Input: a DataConfig and the schema the objective needs. Output: a DatasetDict (train, validation, test) whose rows
carry `_source` ("file:line"), and a report dict with a count for every step.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path

from tunesmith.config import DataConfig
from tunesmith.data.build import build_dataset
from tunesmith.data.clean import clean_text
from tunesmith.data.dedup import (
    dedup_text,
    exact_duplicate_groups,
    exact_key,
    near_pairs,
    repeats_of,
    signatures,
)
from tunesmith.data.rehearsal import rehearse
from tunesmith.data.split import split_indices
from tunesmith.errors import UserError
from tunesmith.models.gguf import tunesmith_home
from tunesmith.quiet import quiet_libraries
from tunesmith.runs import file_sha256

SPLITS = ("train", "validation", "test")
STEP_COUNTS = ("normalised", "markup_stripped", "pii_email", "pii_phone", "pii_ip", "pii_card", "pii_iban")
EXAMPLES_SHOWN = 3  # rows each cleaning step shows in the data report
PARALLEL_FROM = 20_000  # rows; below this, starting worker processes costs more than it saves


def _clean_row_texts(row: dict, clean) -> tuple[dict, Counter]:
    counts: Counter = Counter()
    options = dict(normalise_text=clean.normalise, strip_html=clean.strip_html, pii=tuple(clean.scrub_pii))

    def fix(text: str) -> str:
        new, steps = clean_text(text, **options)
        counts.update(steps)
        return new

    out = dict(row)
    for key in ("messages", "prompt"):
        if isinstance(row.get(key), list):
            out[key] = [{**m, "content": fix(m["content"])} for m in row[key]]
    for key in ("text", "text_pair", "chosen", "rejected"):
        if isinstance(row.get(key), str):
            out[key] = fix(row[key])
    return out, counts


def _clean_batch(batch: dict, clean) -> dict:
    keys = list(batch)
    rows = [dict(zip(keys, values)) for values in zip(*batch.values())]
    out = {k: [] for k in keys} | {f"_n_{name}": [] for name in STEP_COUNTS}
    for row in rows:
        new, counts = _clean_row_texts(row, clean)
        for k in keys:
            out[k].append(new[k])
        for name in STEP_COUNTS:
            out[f"_n_{name}"].append(counts.get(name, 0))
    return out


def clean_dataset(ds, clean, report: dict):
    """Apply the cleaning steps (batched, in parallel for large data) and add their counts to the report."""
    num_proc = min(2, os.cpu_count() or 1) if len(ds) >= PARALLEL_FROM else None
    ds = ds.map(_clean_batch, batched=True, batch_size=1000, fn_kwargs={"clean": clean}, num_proc=num_proc,
                desc=None)
    for name in STEP_COUNTS:
        column = f"_n_{name}"
        total = int(sum(ds.data.column(column).to_pylist()))
        report[name] = report.get(name, 0) + total
    return ds.remove_columns([f"_n_{name}" for name in STEP_COUNTS])


def _texts(ds) -> list[str]:
    return [dedup_text(row) for row in ds]


def filter_lengths(ds, clean, texts: list[str], report: dict):
    keep = [i for i, t in enumerate(texts) if len(t) >= clean.min_chars and (clean.max_chars is None
                                                                            or len(t) <= clean.max_chars)]
    report["dropped_length"] = report.get("dropped_length", 0) + len(texts) - len(keep)
    return ds.select(keep), [texts[i] for i in keep]


def duplicate_rows(clean, texts: list[str], sigs) -> dict[int, tuple[str, int]]:
    """Row -> (kind "exact" or "near", the earlier row it repeats); the first row of each group is not listed."""
    found: dict[int, tuple[str, int]] = {}
    if clean.dedup_exact:
        for group in exact_duplicate_groups([exact_key(t) for t in texts]):
            found.update({i: ("exact", group[0]) for i in group[1:]})
    if clean.dedup_near and sigs is not None:
        rest = [i for i in range(len(texts)) if i not in found]
        near = near_pairs([texts[i] for i in rest], sigs[rest], clean.near_threshold, clean.near_min_words)
        found.update({rest[i]: ("near", rest[k]) for i, k in near.items()})
    return found


def _examples(sources: list[str], texts: list[str], found: dict[int, tuple[str, int]], kind: str) -> list[dict]:
    shown = [(i, k) for i, (what, k) in sorted(found.items()) if what == kind][:EXAMPLES_SHOWN]
    return [{"row": sources[i], "text": texts[i][:160], "repeats": sources[k], "repeated": texts[k][:160]}
            for i, k in shown]


def deduplicate(ds, clean, texts: list[str], report: dict, flag_only: bool = False):
    """Exact, then near duplicates inside one dataset: dropped (the first of each group stays), or with `flag_only`
    counted and kept. Returns the rows, their texts, their MinHash signatures (None without near dedup; the leakage
    check reuses them) and the repeating rows' sources."""
    sigs = signatures(texts) if clean.dedup_near else None
    found = duplicate_rows(clean, texts, sigs)
    sources = list(ds["_source"]) if found else []
    verb = "flagged" if flag_only else "dropped"
    for kind in ("exact", "near"):
        report[f"{verb}_{kind}_duplicates"] = sum(what == kind for what, _ in found.values())
        if report[f"{verb}_{kind}_duplicates"]:
            report.setdefault("examples", {})[f"{kind}_duplicates"] = _examples(sources, texts, found, kind)
    repeating = [sources[i] for i in sorted(found)]
    if flag_only or not found:
        return ds, texts, sigs, repeating
    kept = [i for i in range(len(texts)) if i not in found]
    return ds.select(kept), [texts[i] for i in kept], None if sigs is None else sigs[kept], repeating


def remove_leakage(splits: dict, texts: dict[str, list[str]], sigs: dict, clean, report: dict,
                   flag_only: frozenset = frozenset()) -> dict:
    """Evaluation rows that repeat (exactly or nearly) a training row are removed from the evaluation side, or for
    the splits in `flag_only` (a test file scored as given) listed in report["flagged"]."""
    for name in ("validation", "test"):
        if name not in splits or not len(splits[name]):
            continue
        leaked = repeats_of(texts["train"], sigs.get("train"), texts[name], sigs.get(name), clean.near_threshold,
                            clean.near_min_words)
        if name in flag_only:
            report["flagged"][name]["leaked"] = [splits[name][i]["_source"] for i in sorted(leaked)]
            continue
        report[f"leaked_into_{name}"] = len(leaked)
        keep = [i for i in range(len(texts[name])) if i not in leaked]
        splits[name], texts[name] = splits[name].select(keep), [texts[name][i] for i in keep]
    return splits


def fingerprint(spec: str | None) -> str | None:
    """Content identity of a data source: file hash, folder listing (name, size, mtime), or the Hub id."""
    if not spec:
        return None
    path = Path(spec).expanduser()
    if path.is_file():
        return file_sha256(str(path))
    if path.is_dir():
        listing = sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
                         for p in path.rglob("*") if p.is_file())
        return hashlib.sha256(json.dumps(listing).encode()).hexdigest()
    return f"hub:{spec}"


def cache_key(cfg: DataConfig, schema: str) -> str:
    identity = {"schema": schema, "config": cfg.model_dump(mode="json", exclude={"cache", "replay", "rehearsal"}), "version": 3,
                "files": {split: fingerprint(getattr(cfg, split)) for split in SPLITS}}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def _drop_warning(spec: str, records: int, kept: int, clean) -> list[str]:
    dropped = records - kept
    if not records or dropped / records <= clean.max_drop_share:
        return []
    return [f"{spec}: cleaning dropped {dropped:,} of {records:,} rows ({dropped / records:.0%}, more than "
            f"data.clean.max_drop_share {clean.max_drop_share:.0%}); the data report lists examples of each step - "
            "if they are not real repeats, set data.clean.dedup_near=false or raise data.clean.near_threshold"]


def _load_and_clean(spec: str, split: str, schema: str, cfg: DataConfig, work: Path, report: dict):
    ds, fmt, records = build_dataset(spec, schema, work / "raw" / split, columns=cfg.columns,
                                     system_prompt=cfg.system_prompt, labels=cfg.labels)
    as_given = split == "test" and cfg.test_as_given
    steps: dict = {}
    ds = clean_dataset(ds, cfg.clean, steps)
    texts = _texts(ds)
    if not as_given:
        ds, texts = filter_lengths(ds, cfg.clean, texts, steps)
    ds, texts, sigs, repeating = deduplicate(ds, cfg.clean, texts, steps, flag_only=as_given)
    if as_given:
        report["flagged"][split] = {"duplicate": repeating}
    report["sources"][split] = {"path": spec, "format": fmt, "records": records, "kept": len(ds), **steps}
    report["warnings"] += _drop_warning(spec, records, len(ds), cfg.clean)
    if not len(ds):
        raise UserError(f"{spec}: no rows left after cleaning ({records} read; "
                        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in steps.items()
                                    if isinstance(v, int) and v and k.startswith("dropped")) + ")",
                        hint="loosen data.clean (min_chars, max_chars, near_threshold)")
    return ds, texts, sigs


def validation_share(cfg: DataConfig, rows: int) -> float:
    """validation_size, lowered so that at most validation_max_rows rows are split off."""
    if not cfg.validation_max_rows or not rows:
        return cfg.validation_size
    return min(cfg.validation_size, cfg.validation_max_rows / rows)


def _split_train(ds, texts, sigs, cfg: DataConfig, schema: str, named: set[str]) -> tuple[dict, dict, dict]:
    labels = ds["label"] if schema == "classification" else None
    cut = split_indices(len(ds), 0.0 if "validation" in named else validation_share(cfg, len(ds)),
                        0.0 if "test" in named else cfg.test_size, cfg.seed, labels)
    cut = {name: idx for name, idx in cut.items() if name == "train" or name not in named}
    return ({name: ds.select(idx) for name, idx in cut.items()},
            {name: [texts[i] for i in idx] for name, idx in cut.items()},
            {name: None if sigs is None else sigs[idx] for name, idx in cut.items()})


def _label_warnings(splits: dict) -> list[str]:
    if "label" not in splits["train"].column_names:
        return []
    seen = {name: set(ds["label"]) for name, ds in splits.items() if len(ds)}
    warnings = []
    for label in sorted(set().union(*seen.values())):
        where = [name for name, labels in seen.items() if label in labels]
        if len(where) == 1 and len(seen) > 1:
            warnings.append(f"label '{label}' appears only in the {where[0]} split")
    return warnings


def _build(cfg: DataConfig, schema: str, work: Path) -> tuple[dict, dict]:
    report: dict = {"schema": schema, "sources": {}, "warnings": [], "flagged": {}}
    loaded = {split: _load_and_clean(getattr(cfg, split), split, schema, cfg, work, report)
              for split in SPLITS if getattr(cfg, split)}
    if "train" not in loaded:
        raise UserError("no training data: set data.train", hint="--set data.train=path/to/train.jsonl")
    splits, texts, sigs = _split_train(*loaded["train"], cfg, schema, set(loaded) - {"train"})
    for name in set(loaded) - {"train"}:
        splits[name], texts[name], sigs[name] = loaded[name]
    splits = remove_leakage(splits, texts, sigs, cfg.clean, report, frozenset(report["flagged"]))
    report["warnings"] += _label_warnings(splits)
    report["rows"] = {name: len(ds) for name, ds in splits.items()}
    if schema == "classification":
        report["labels"] = {name: dict(Counter(ds["label"])) for name, ds in splits.items()}
    return splits, report


def prepare_splits(cfg: DataConfig, schema: str):
    """(DatasetDict of train/validation/test, report); reused from the cache when files and settings match, with
    earlier tasks' rows added to train when data.rehearsal names runs (data/rehearsal.py)."""
    splits, report = _cached_splits(cfg, schema)
    if cfg.rehearsal.runs:
        splits["train"], report["rehearsal"] = rehearse(splits, cfg, schema, _cached_splits)
        report["rows"] = {**report["rows"], "train": len(splits["train"])}
    return splits, report


def _cached_splits(cfg: DataConfig, schema: str):
    from datasets import DatasetDict, load_from_disk

    quiet_libraries()
    key = cache_key(cfg, schema)
    target = tunesmith_home() / "data" / key
    if cfg.cache and (target / "report.json").is_file():
        report = json.loads((target / "report.json").read_text())
        return load_from_disk(str(target / "splits")), {**report, "cache": "hit"}
    work = target.with_name(f"{key}.tmp{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    try:
        splits, report = _build(cfg, schema, work)
        # Empty splits are left out: datasets cannot load a saved zero-row split back.
        DatasetDict({name: ds for name, ds in splits.items() if len(ds)}).save_to_disk(str(work / "splits"))
        (work / "report.json").write_text(json.dumps(report, indent=2))
        shutil.rmtree(work / "raw", ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return load_from_disk(str(target / "splits")), {**report, "cache": "miss", "cache_key": key}
