"""Every loader, and the bad inputs each must name precisely."""

import json

import pytest

from tunesmith.data.load import iter_records, read_records
from tunesmith.errors import UserError

ROWS = [{"prompt": f"question {i}", "completion": f"answer {i}"} for i in range(5)]


def fields(spec, **kwargs):
    return [r.fields for r in iter_records(str(spec), **kwargs)]


def test_jsonl(write_jsonl):
    path = write_jsonl("d.jsonl", ROWS)
    assert fields(path) == ROWS
    assert [r.source for r in iter_records(str(path))][:2] == [f"{path}:1", f"{path}:2"]


def test_json_array_streams_with_line_numbers(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(ROWS, indent=2))
    records = list(iter_records(str(path)))
    assert [r.fields for r in records] == ROWS
    assert records[1].source == f"{path}:6"  # each object spans 4 lines after the opening bracket


def test_json_lines_saved_as_json(tmp_path):
    path = tmp_path / "d.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert fields(path) == ROWS


def test_truncated_json_array(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(ROWS, indent=2)[:-30])
    with pytest.raises(UserError, match=r"d.json:\d+: invalid JSON or the array is not closed"):
        list(iter_records(str(path)))


def test_csv_and_tsv(tmp_path):
    (tmp_path / "d.csv").write_text('prompt,completion\n"a, with comma",b\nc,d\n')
    (tmp_path / "d.tsv").write_text("prompt\tcompletion\na\tb\n")
    assert fields(tmp_path / "d.csv") == [{"prompt": "a, with comma", "completion": "b"},
                                          {"prompt": "c", "completion": "d"}]
    assert fields(tmp_path / "d.tsv") == [{"prompt": "a", "completion": "b"}]


def test_ragged_csv_row_names_the_line(tmp_path):
    (tmp_path / "d.csv").write_text("text,label\ngood,pos\nbad,neg,extra\n")
    with pytest.raises(UserError, match=r"d.csv:3: 3 fields but the header has 2"):
        list(iter_records(str(tmp_path / "d.csv")))


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "d.parquet")
    records = list(iter_records(str(tmp_path / "d.parquet")))
    assert [r.fields for r in records] == ROWS and records[2].source.endswith("d.parquet:row 3")


def test_damaged_parquet(tmp_path):
    (tmp_path / "d.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(UserError, match="not a readable Parquet file"):
        list(iter_records(str(tmp_path / "d.parquet")))


def test_folder_of_text_files(tmp_path):
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "a.txt").write_text("first document")
    (tmp_path / "docs" / "sub" / "b.txt").write_text("second document")
    assert fields(tmp_path / "docs") == [{"text": "first document"}, {"text": "second document"}]


def test_saved_datasets_folder(tmp_path):
    from datasets import Dataset, DatasetDict

    DatasetDict({"train": Dataset.from_list(ROWS), "test": Dataset.from_list(ROWS[:2])}).save_to_disk(tmp_path / "dd")
    Dataset.from_list(ROWS[:3]).save_to_disk(tmp_path / "single")
    assert fields(tmp_path / "dd") == ROWS
    assert fields(tmp_path / "dd", split="test") == ROWS[:2]
    assert fields(tmp_path / "single") == ROWS[:3]
    with pytest.raises(UserError, match="has splits"):
        fields(tmp_path / "dd", split="validation")


def test_hub_dataset_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(UserError) as err:
        fields("some-org/some-dataset")
    assert "could not load dataset 'some-org/some-dataset' from the Hugging Face Hub" in err.value.message


def test_binary_file(tmp_path):
    (tmp_path / "d.jsonl").write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(UserError, match="looks like a binary file"):
        list(iter_records(str(tmp_path / "d.jsonl")))


def test_one_broken_line_among_ten_thousand(tmp_path):
    lines = [json.dumps({"text": f"row {i}"}) for i in range(10_000)]
    lines[7_321] = '{"text": "cut off'
    (tmp_path / "big.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"big.jsonl:7322: invalid JSON .*truncated file\?"):
        read_records(tmp_path / "big.jsonl")


def test_unsupported_type_and_missing_file(tmp_path):
    (tmp_path / "d.xml").write_text("<a/>")
    with pytest.raises(UserError, match="unsupported file type '.xml'"):
        list(iter_records(str(tmp_path / "d.xml")))
    with pytest.raises(UserError, match="data file not found"):
        list(iter_records(str(tmp_path / "nope.jsonl")))


def test_columns_mapping_renames_fields(write_jsonl):
    path = write_jsonl("d.jsonl", [{"question": "q", "answer": "a"}])
    assert fields(path, columns={"question": "prompt", "answer": "completion"}) == [{"prompt": "q", "completion": "a"}]
