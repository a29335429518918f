import random

from tunesmith.data.dedup import (exact_duplicate_groups, exact_key, near_duplicate_groups, redundant_rows,
                                  signatures)


def corpus(n=300, seed=0):
    rng = random.Random(seed)
    words = [f"word{i}" for i in range(2000)]
    return [" ".join(rng.choices(words, k=rng.randint(40, 80))) for _ in range(n)]


def test_exact_duplicates_ignore_case_and_spacing():
    keys = [exact_key(t) for t in ["Hello  world", "hello world", "hello there", "HELLO WORLD "]]
    assert exact_duplicate_groups(keys) == [[0, 1, 3]]
    assert redundant_rows([[0, 1, 3]]) == {1, 3}


def test_near_duplicates_are_found_and_distinct_texts_are_not():
    texts = corpus()
    words = texts[10].split()
    texts.append(" ".join(words[:5] + ["changed"] + words[6:]))  # one word differs
    texts.append(texts[20] + " and a short tail")
    texts.append(" ".join(words[: len(words) // 3]))  # a third of the text: not a near duplicate
    groups = near_duplicate_groups(signatures(texts), 0.8)
    assert sorted(map(sorted, groups)) == [[10, 300], [20, 301]]


def test_signatures_are_deterministic_and_similarity_tracks_jaccard():
    texts = corpus(20)
    assert (signatures(texts) == signatures(texts)).all()
    a = texts[0].split()
    half = " ".join(a[: len(a) // 2] + corpus(1, seed=9)[0].split()[: len(a) // 2])
    sig = signatures([texts[0], half])
    assert 0.15 < (sig[0] == sig[1]).mean() < 0.6
