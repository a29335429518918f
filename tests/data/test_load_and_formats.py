import pytest

from tunesmith.config import DataConfig
from tunesmith.data import load_splits
from tunesmith.data.formats import to_messages
from tunesmith.data.load import Record, read_records
from tunesmith.errors import UserError

CHAT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def test_malformed_line_names_file_and_line(write_jsonl):
    path = write_jsonl("train.jsonl", [CHAT, CHAT], raw_lines=['{"messages": [}'])
    with pytest.raises(UserError, match=r"train.jsonl:3: invalid JSON"):
        read_records(path)


def test_blank_lines_are_skipped_but_line_numbers_kept(write_jsonl):
    path = write_jsonl("train.jsonl", [CHAT], raw_lines=["", '"just a string"'])
    with pytest.raises(UserError, match=r"train.jsonl:3: expected a JSON object"):
        read_records(path)


def test_empty_and_missing_files(write_jsonl, tmp_path):
    with pytest.raises(UserError, match="empty"):
        read_records(write_jsonl("empty.jsonl", []))
    with pytest.raises(UserError, match="not found"):
        read_records(tmp_path / "nope.jsonl")


@pytest.mark.parametrize("fields, message", [
    ({"body": "x"}, "no known format.*found: body"),
    ({"text": "x"}, "'text' data cannot train a chat objective"),
    ({"messages": []}, "non-empty list"),
    ({"messages": [{"role": "user"}]}, r"messages\[0\] needs 'role' and 'content'"),
    ({"messages": [{"role": "bot", "content": "x"}]}, r"messages\[0\].role is 'bot'"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}, "in a row"),
    ({"messages": [{"role": "user", "content": "a"}]}, "last message must be the assistant"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "  "}]},
     r"messages\[1\].content' is empty"),
    ({"prompt": "a", "completion": 3}, "'completion' must be a string"),
])
def test_validation_names_the_field(fields, message):
    with pytest.raises(UserError, match=r"f.jsonl:9: .*" + message):
        to_messages(Record("f.jsonl:9", fields))


def test_prompt_completion_and_system_prompt():
    messages = to_messages(Record("x:1", {"prompt": "q", "completion": "a"}), system_prompt="be brief")
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    own = to_messages(Record("x:1", {"messages": [{"role": "system", "content": "mine"}, *CHAT["messages"]]}), "other")
    assert own[0]["content"] == "mine"


def test_openai_weight_is_kept_and_checked():
    fields = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "weight": 0},
                           {"role": "user", "content": "c"}, {"role": "assistant", "content": "d", "weight": 1}]}
    assert to_messages(Record("x:1", fields))[1]["weight"] == 0
    fields["messages"][0]["weight"] = 1
    with pytest.raises(UserError, match="weight"):
        to_messages(Record("x:1", fields))


def test_splits_are_seeded_disjoint_and_complete(write_jsonl):
    rows = [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(50)]
    cfg = DataConfig(train=str(write_jsonl("t.jsonl", rows)), validation_size=0.2, test_size=0.1, seed=3)
    (first, _), (again, _) = load_splits(cfg), load_splits(cfg)
    sources = {name: [ex.source for ex in split] for name, split in first.items()}
    assert sources == {name: [ex.source for ex in split] for name, split in again.items()}
    assert (len(sources["train"]), len(sources["validation"]), len(sources["test"])) == (35, 10, 5)
    assert len(set(sum(sources.values(), []))) == 50
    other, _ = load_splits(cfg.model_copy(update={"seed": 4}))
    assert [ex.source for ex in other["test"]] != sources["test"]


def test_missing_train_setting():
    with pytest.raises(UserError, match="data.train"):
        load_splits(DataConfig(train=None))


def schema_row(fields, schema, **kwargs):
    from tunesmith.data.formats import to_schema

    return to_schema(Record("f.jsonl:3", fields), schema, **kwargs)


def test_alpaca_and_sharegpt_become_chat():
    kind, row = schema_row({"instruction": "Translate", "input": "hola", "output": "hello"}, "chat")
    assert kind == "alpaca" and [m["content"] for m in row["messages"]] == ["Translate\n\nhola", "hello"]
    kind, row = schema_row({"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "hi"},
                                              {"from": "gpt", "value": "yo"}]}, "chat")
    assert kind == "sharegpt" and [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
    with pytest.raises(UserError, match=r"conversations\[0\] needs 'from'"):
        schema_row({"conversations": [{"from": "robot", "value": "x"}]}, "chat")


def test_preference_formats():
    kind, row = schema_row({"prompt": "2+2?", "chosen": "4", "rejected": "5"}, "preference")
    assert kind == "preference" and row["prompt"][0]["content"] == "2+2?" and row["chosen"] == "4"
    openai = {"input": {"messages": [{"role": "user", "content": "2+2?"}]},
              "preferred_output": [{"role": "assistant", "content": "4"}],
              "non_preferred_output": [{"role": "assistant", "content": "5"}]}
    kind, row = schema_row(openai, "preference")
    assert kind == "openai_preference" and (row["chosen"], row["rejected"]) == ("4", "5")
    with pytest.raises(UserError, match="'chosen' and 'rejected' are the same answer"):
        schema_row({"prompt": "q", "chosen": "a", "rejected": "a"}, "preference")
    with pytest.raises(UserError, match="'prompt_completion' data cannot train a preference objective"):
        schema_row({"prompt": "q", "completion": "a"}, "preference")


def test_classification_labels_as_strings_or_ints():
    assert schema_row({"text": "great", "label": 1}, "classification")[1] == {"text": "great", "label": "1"}
    with pytest.raises(UserError, match="unknown label 'meh'; data.labels allows pos, neg"):
        schema_row({"text": "x", "label": "meh"}, "classification", labels=["pos", "neg"])
    with pytest.raises(UserError, match="'label' must be a string or an integer"):
        schema_row({"text": "x", "label": [1]}, "classification")


def test_text_schema_accepts_chat_data_for_continued_pretraining():
    assert schema_row({"prompt": "q", "completion": "a"}, "text")[1] == {"text": "q\n\na"}


def test_mixed_formats_in_one_file_are_an_error():
    with pytest.raises(UserError, match="'prompt_completion' format but the file started in 'messages' format"):
        schema_row({"prompt": "q", "completion": "a"}, "chat", expected="messages")


@pytest.mark.parametrize(("fields", "text", "label"), [
    ({"sentence": "a fine film", "label": 1, "idx": 0}, "a fine film", "1"),  # GLUE SST-2
    ({"text": "book me a table", "intent": "restaurant"}, "book me a table", "restaurant"),  # CLINC
    ({"review": "dull", "sentiment": "negative"}, "dull", "negative"),
])
def test_classification_reads_the_column_names_public_datasets_use(fields, text, label):
    from tunesmith.data.formats import to_schema

    assert to_schema(Record("d.jsonl:1", fields), "classification") == ("classification",
                                                                        {"text": text, "label": label})


def test_two_candidate_text_columns_are_not_guessed_between():
    from tunesmith.data.formats import to_schema

    with pytest.raises(UserError, match=r"d.jsonl:1: no known format.*found: label, review, sentence"):
        to_schema(Record("d.jsonl:1", {"sentence": "a", "review": "b", "label": 1}), "classification")
