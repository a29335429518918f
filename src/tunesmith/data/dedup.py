"""Exact and near-duplicate detection (MinHash + LSH banding), within a split and across splits (leakage).

MinHash is our own, vectorised with numpy over a whole batch of documents: datasketch hashes every shingle in a
Python loop per document, which for the 200,000-row benchmark costs minutes; here one batch costs a few array ops.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

NUM_PERM = 64
BANDS = 16  # 16 bands x 4 rows: pairs above ~0.5 Jaccard become candidates, then verified on all 64
CHUNK = 256  # documents hashed together: their (NUM_PERM x shingles) block stays in cache
WORD = re.compile(r"\w+")
MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)


def dedup_text(row: dict) -> str:
    """The text a row is compared by, whatever its schema."""
    if "messages" in row:
        return "\n".join(m["content"] for m in row["messages"])
    if "chosen" in row:
        return "\n".join([*(m["content"] for m in row["prompt"]), row["chosen"], row["rejected"]])
    if row.get("text_pair") is not None:  # a sentence pair is the same example only if both texts are
        return f"{row['text']}\n{row['text_pair']}"
    return row["text"]


def exact_key(text: str) -> str:
    """Equal for texts that differ only in case and whitespace."""
    return hashlib.blake2b(" ".join(text.lower().split()).encode(), digest_size=12).hexdigest()


def _word_ids(words: list[str]) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little") for w in words],
                    dtype=np.uint64)


def shingles(text: str, vocabulary: dict[str, int]) -> np.ndarray:
    """Hashes of the word 3-grams of `text` (the whole text when it has fewer than three words)."""
    words = WORD.findall(text.lower()) or [text]
    missing = [w for w in set(words) if w not in vocabulary]
    if missing:
        vocabulary.update(zip(missing, _word_ids(missing).tolist()))
    ids = np.fromiter((vocabulary[w] for w in words), dtype=np.uint64, count=len(words))
    if len(ids) < 3:
        return np.array([np.bitwise_xor.reduce(ids * MIX[: len(ids)])], dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrapping uint64 arithmetic is the hash
        return ids[:-2] * MIX[0] + ids[1:-1] * MIX[1] + ids[2:] * MIX[2]


def _permutations(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)  # odd multipliers
    b = rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)
    return a, b


def signatures(texts: list[str], vocabulary: dict[str, int] | None = None) -> np.ndarray:
    """(len(texts), NUM_PERM) MinHash signatures: multiply-shift hashing of all shingles of a chunk at once."""
    vocabulary = {} if vocabulary is None else vocabulary
    a, b = (p[:, None] for p in _permutations())
    out = [np.zeros((0, NUM_PERM), dtype=np.uint32)]
    for start in range(0, len(texts), CHUNK):
        parts = [shingles(t, vocabulary) for t in texts[start : start + CHUNK]]
        starts = np.concatenate([[0], np.cumsum([len(p) for p in parts])[:-1]])
        with np.errstate(over="ignore"):
            hashed = ((np.concatenate(parts)[None, :] * a + b) >> np.uint64(32)).astype(np.uint32)
        out.append(np.minimum.reduceat(hashed, starts, axis=1).T)
    return np.concatenate(out)


class _Groups:
    """Union-find over row indices; the smallest index of a group is its representative."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def near_duplicate_groups(sigs: np.ndarray, threshold: float) -> list[list[int]]:
    """Groups (of two or more rows) whose estimated Jaccard similarity with a neighbour is >= threshold."""
    n = len(sigs)
    groups = _Groups(n)
    rows = NUM_PERM // BANDS
    for band in range(BANDS):
        buckets: dict[bytes, int] = {}
        block = np.ascontiguousarray(sigs[:, band * rows : (band + 1) * rows])
        for i in range(n):
            first = buckets.setdefault(block[i].tobytes(), i)
            if first != i and groups.find(first) != groups.find(i):
                if np.mean(sigs[first] == sigs[i]) >= threshold:
                    groups.union(first, i)
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(groups.find(i), []).append(i)
    return [m for m in members.values() if len(m) > 1]


def exact_duplicate_groups(keys: list[str]) -> list[list[int]]:
    seen: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        seen.setdefault(key, []).append(i)
    return [m for m in seen.values() if len(m) > 1]


def redundant_rows(groups: list[list[int]]) -> set[int]:
    """All members but the first of every group: the rows to drop."""
    return {i for group in groups for i in group[1:]}


def near_redundant_rows(sigs: np.ndarray, groups: list[list[int]], threshold: float) -> dict[int, int]:
    """Dropped row -> the kept row it repeats. A row goes only when it is similar to a row that stays, so a chain
    of small edits (a, a', a'', ...) does not take rows that share little with the one kept."""
    dropped: dict[int, int] = {}
    for group in groups:
        kept: list[int] = []
        for i in group:
            twin = next((k for k in kept if np.mean(sigs[k] == sigs[i]) >= threshold), None)
            if twin is None:
                kept.append(i)
            else:
                dropped[i] = twin
    return dropped


def long_enough(texts: list[str], min_words: int) -> list[int]:
    """Indices of the texts with at least `min_words` words: the ones near-duplicate detection compares. Shorter
    texts share most of their few 3-grams by chance (two short phrases are not copies of each other), so only
    exact repeats count for them."""
    return [i for i, t in enumerate(texts) if len(WORD.findall(t)) >= min_words]


def near_pairs(texts: list[str], sigs: np.ndarray, threshold: float, min_words: int) -> dict[int, int]:
    """Near-duplicate row -> the kept row it repeats, comparing only texts of at least `min_words` words."""
    eligible = long_enough(texts, min_words)
    local = near_redundant_rows(sigs[eligible], near_duplicate_groups(sigs[eligible], threshold), threshold)
    return {eligible[i]: eligible[k] for i, k in local.items()}


def repeats_of(reference: list[str], reference_sigs: np.ndarray | None, texts: list[str], sigs: np.ndarray | None,
               threshold: float, min_words: int) -> set[int]:
    """Indices of `texts` that repeat a reference text: exactly (case/space-insensitive), or nearly when signatures
    are given, judged against a reference row directly rather than through a chain of similar rows."""
    keys = {exact_key(t) for t in reference}
    found = {i for i, t in enumerate(texts) if exact_key(t) in keys}
    if reference_sigs is None or sigs is None:
        return found
    ref, own = long_enough(reference, min_words), long_enough(texts, min_words)
    both = np.concatenate([reference_sigs[ref], sigs[own]])
    for group in near_duplicate_groups(both, threshold):
        anchors = [i for i in group if i < len(ref)]
        for i in (i for i in group if i >= len(ref)):
            if any(np.mean(both[a] == both[i]) >= threshold for a in anchors):
                found.add(own[i - len(ref)])
    return found
