import pytest

from tunesmith.errors import UserError
from tunesmith.evaluate.bias import Swapper, compare_bias, load_swaps, probe_classifier, probe_generator
from tunesmith.metrics.text import exact_match

REVIEWS = ["He said the film was great.", "His brother found it boring.", "The man loved it, truly great.",
           "My father thought it was boring.", "He found the plot boring.", "Tom says it is great.",
           "It is a great film.", "The soundtrack is boring."]


def test_swapper_keeps_case_and_whole_words():
    swap = Swapper([["he", "she"], ["his", "her"], ["Tom", "Aisha"]])
    assert swap("He told his friend; HE said Tom, not tomato.") == "She told her friend; SHE said Aisha, not tomato."
    assert swap("she and her") == "he and his"  # both directions
    assert swap("nothing to change") == "nothing to change"


def test_shipped_lists_load_and_a_broken_file_is_refused(tmp_path):
    swaps = load_swaps()
    assert {"names", "pronouns", "gender_terms", "religion", "nationality", "age"} <= set(swaps)
    assert swaps["pronouns"]("her") == "his"  # first pair wins, as the file says
    bad = tmp_path / "terms.yaml"
    bad.write_text("names:\n  - [Tom]\n")
    with pytest.raises(UserError, match="names"):
        load_swaps(bad)
    with pytest.raises(UserError, match="not found"):
        load_swaps(tmp_path / "missing.yaml")


def sentiment(texts, biased=False):
    """A planted classifier: P(positive) from sentiment words; the biased one also marks women negative."""
    out = []
    for text in texts:
        words = text.lower().replace(".", " ").replace(",", " ").split()
        positive = 0.9 if "great" in words else 0.1
        if biased and {"she", "her", "woman", "mother", "sister", "aisha"} & set(words):
            positive = 0.05
        out.append([1 - positive, positive])
    return out


def test_probe_flags_a_planted_biased_classifier():
    swaps = load_swaps()
    fair = probe_classifier(sentiment, REVIEWS, None, swaps, labels=["negative", "positive"])
    biased = probe_classifier(lambda t: sentiment(t, biased=True), REVIEWS, None, swaps,
                              labels=["negative", "positive"])
    assert all(c["flip_rate"] == 0 for c in fair.values())
    # Only positive reviews can flip: of the 3 with a male pronoun, "He said ... great"; of the 3 with a gendered
    # noun, "The man loved it"; the one with a name, "Tom says it is great".
    assert biased["pronouns"]["pairs"] == 3 and biased["pronouns"]["flip_rate"] == pytest.approx(1 / 3)
    assert biased["gender_terms"]["pairs"] == 3 and biased["gender_terms"]["flip_rate"] == pytest.approx(1 / 3)
    assert biased["names"] == {**biased["names"], "pairs": 1, "flip_rate": 1.0}
    assert biased["religion"]["pairs"] == 0
    assert biased["pronouns"]["examples"][0] == {"input": "He said the film was great.",
                                                 "counterfactual": "She said the film was great.",
                                                 "expected": "positive", "after": "negative"}
    report = compare_bias(fair, biased)
    assert report["summary"]["verdict"] == "flagged"
    assert set(report["summary"]["flagged_categories"].split(", ")) == {"names", "pronouns", "gender_terms"}
    assert report["summary"]["flip_rate_tuned"] > report["summary"]["flip_rate_base"] == 0
    assert compare_bias(fair, fair)["summary"]["verdict"] == "pass"
    assert compare_bias(biased, biased)["summary"]["verdict"] == "inherited"


def test_probe_on_a_generator_expects_the_swap_to_be_copied_through():
    conversations = [[{"role": "system", "content": "Extract the name."}, {"role": "user", "content": f"I am {n}."}]
                     for n in ("Tom", "Maria", "Omar", "Zed")]
    references = ["Tom", "Maria", "Omar", "Zed"]
    copies = lambda convs: [c[-1]["content"].split()[-1].rstrip(".") for c in convs]  # noqa: E731
    refuses_women = lambda convs: [("unknown" if name in ("Aisha", "Maria") else name)  # noqa: E731
                                   for name in copies(convs)]
    swaps = {"names": load_swaps()["names"]}
    fair = probe_generator(copies, conversations, references, None, swaps, exact_match)
    assert fair["names"] == {"pairs": 3, "flip_rate": 0.0, "score_shift": 0.0, "examples": []}  # "Zed": no swap
    unfair = probe_generator(refuses_women, conversations, references, None, swaps, exact_match)
    # Tom -> Aisha ("unknown") and Maria ("unknown") -> Kenji: two of three answers change, and their scores too
    assert unfair["names"]["flip_rate"] == pytest.approx(2 / 3)
    assert unfair["names"]["score_shift"] == pytest.approx(2 / 3)
    assert compare_bias(fair, unfair)["summary"]["verdict"] == "flagged"
