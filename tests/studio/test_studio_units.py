"""The studio's parts without a browser or a model: export rows, prompt sources, password, request guards, the
launch form's validation, the CLI."""

from __future__ import annotations

import json
import sys

import httpx
import pytest

from tunesmith.errors import UserError
from tunesmith.studio.export import correction_rows, preference_rows
from tunesmith.studio.prompts import read_prompts


def rated(choice, a="answer A", b="answer B", correction=None, messages=None):
    return {"messages": messages or [{"role": "user", "content": "q"}], "answer_a": a, "answer_b": b,
            "choice": choice, "correction": correction}


def test_preference_rows_follow_the_ratings():
    pairs = [rated("a"), rated("b"), rated("tie"), rated("skip"), rated("a", a="same", b=" same "),
             rated("b", a="", b="x"), rated("correction", correction="right answer"),
             rated("correction", a="dup", b="dup", correction="better", messages=[
                 {"role": "system", "content": "be brief"}, {"role": "user", "content": "q2"}])]
    rows, unused = preference_rows(pairs)
    assert rows == [
        {"prompt": "q", "chosen": "answer A", "rejected": "answer B"},
        {"prompt": "q", "chosen": "answer B", "rejected": "answer A"},
        {"prompt": "q", "chosen": "right answer", "rejected": "answer A"},
        {"prompt": "q", "chosen": "right answer", "rejected": "answer B"},
        {"prompt": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q2"}],
         "chosen": "better", "rejected": "dup"},
    ]
    assert unused == 4  # tie, skip, identical answers, an empty answer
    assert correction_rows(pairs) == [
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "right answer"}]},
        {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q2"},
                      {"role": "assistant", "content": "better"}]}]


def test_prompts_come_from_text_files_and_any_dataset_format(tmp_path):
    text = tmp_path / "p.txt"
    text.write_text("first\n\n  second  \nfirst\n")
    assert read_prompts(str(text), 10) == [[{"role": "user", "content": "first"}],
                                          [{"role": "user", "content": "second"}]]
    rows = [{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"},
                          {"role": "assistant", "content": "a1"}]},
            {"messages": [{"role": "user", "content": "open question"}]}]
    chat = tmp_path / "chat.jsonl"
    chat.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_prompts(str(chat), 10) == [[{"role": "system", "content": "s"}, {"role": "user", "content": "u1"}],
                                          [{"role": "user", "content": "open question"}]]
    assert read_prompts(str(chat), 1, system_prompt="x") == [[{"role": "system", "content": "s"},
                                                              {"role": "user", "content": "u1"}]]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"}) + "\n")
    assert read_prompts(str(pairs), 5, system_prompt="sys") == [[{"role": "system", "content": "sys"},
                                                                 {"role": "user", "content": "p"}]]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "no known field"}) + "\n")
    with pytest.raises(UserError, match="bad.jsonl:1"):
        read_prompts(str(bad), 5)


@pytest.fixture
def empty_studio(tmp_path):
    """A studio with a password over a folder with no runs."""
    from tunesmith.serve import start_in_background
    from tunesmith.studio import StudioSettings, create_app

    running = start_in_background(create_app(StudioSettings(root=tmp_path / "runs", password="s3cret")))
    yield running
    running.stop()


def test_password_guards_every_page_and_api(empty_studio):
    url = empty_studio.url
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/runs").status_code == 303 and http.get("/runs").headers["location"] == "/login"
        assert http.get("/api/runs").status_code == 401
        assert http.get("/static/studio.js").status_code == 200
        wrong = http.post("/login", data={"password": "guess"}, headers={"Origin": url})
        assert wrong.status_code == 401 and "tunesmith_studio" not in wrong.cookies
        right = http.post("/login", data={"password": "s3cret"}, headers={"Origin": url})
        assert right.status_code == 303
        assert http.get("/api/runs").json() == {"runs": []}


def test_requests_from_other_sites_and_hosts_are_refused(empty_studio):
    url = empty_studio.url
    with httpx.Client(base_url=url, timeout=30) as http:
        cross_site = http.post("/login", data={"password": "s3cret"}, headers={"Origin": "http://evil.example"})
        assert cross_site.status_code == 403
        rebound = http.get("/login", headers={"Host": "evil.example"})  # DNS rebinding to 127.0.0.1
        assert rebound.status_code == 403


def test_the_launch_form_validates_like_the_cli_and_escapes_what_it_echoes(tmp_path):
    from tunesmith.studio.launch import config_from_form

    root = tmp_path / "runs"
    root.mkdir()
    values = {"model.name": "tiny", "objective.name": "sft", "method.name": "lora", "data.train": "t.jsonl",
              "training.learning_rate": "-1", "output.name": ""}
    with pytest.raises(UserError, match=r"training\.learning_rate: Input should be greater than 0"):
        config_from_form(root, {}, values, "")
    with pytest.raises(UserError, match=r"unknown key 'method.rank' \(valid here: name, r,"):
        config_from_form(root, {}, {**values, "training.learning_rate": "1e-3"}, "method.rank=8")
    with pytest.raises(UserError, match="unknown objective.name 'dpoo'"):
        config_from_form(root, {}, {**values, "training.learning_rate": "1e-3", "objective.name": "dpoo"}, "")
    config = config_from_form(root, {}, {**values, "training.learning_rate": "1e-3", "output.name": "x1"},
                              "# a comment\nmethod.r=8")
    assert (config.method.r, config.training.learning_rate, config.output.dir) == (8, 1e-3, str(root))
    (root / "x1").mkdir()
    with pytest.raises(UserError, match="already exists"):
        config_from_form(root, {}, {**values, "training.learning_rate": "1e-3", "output.name": "x1"}, "")


def test_a_bad_launch_form_is_shown_again_with_the_error(empty_studio):
    url = empty_studio.url
    with httpx.Client(base_url=url, timeout=30, headers={"Origin": url}) as http:
        http.post("/login", data={"password": "s3cret"})
        answer = http.post("/launch", data={"model.name": "<script>alert(1)</script>", "data.train": "t.jsonl",
                                            "training.batch_size": "zero", "objective.name": "sft",
                                            "method.name": "lora"})
        assert answer.status_code == 400
        assert "training.batch_size" in answer.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text
        assert "<script>alert(1)" not in answer.text


def test_cli_has_a_studio_command_that_checks_its_port(monkeypatch, capsys):
    import socket

    from tunesmith.cli import STATE, main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(sys, "argv", ["tunesmith", "studio", "--port", str(taken.getsockname()[1])])
        STATE["debug"] = False
        with pytest.raises(SystemExit) as exit_info:
            main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: cannot listen on 127.0.0.1:")
