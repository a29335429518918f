"""The try page offers GGUF exports in the studio folder beside the runs, and their answers match the run's."""

import html
import re

import httpx
import pytest

from tests.studio.conftest import copy_run

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'tunesmith[gguf]')")


@pytest.fixture(scope="module")
def gguf_studio(lora_run, tmp_path_factory):
    from tunesmith.export import export_run
    from tunesmith.serve import start_in_background
    from tunesmith.studio import StudioSettings, create_app

    run, _ = lora_run
    root = tmp_path_factory.mktemp("gguf-studio") / "runs"
    root.mkdir()
    copy_run(run, root / "sft")
    export_run(root / "sft", root / "exports" / "sft-gguf", fmt="gguf", task_check=False, log=lambda line: None)
    running = start_in_background(create_app(StudioSettings(root=root)))
    yield running
    running.stop()


def test_try_page_lists_the_gguf_and_answers_like_the_run(gguf_studio):
    ref = "gguf:exports/sft-gguf/model-f16.gguf"
    with httpx.Client(base_url=gguf_studio.url, timeout=120, headers={"Origin": gguf_studio.url}) as http:
        form = http.get("/try?run=sft").text
        assert f'value="{ref}"' in form and "exports/sft-gguf/model-f16.gguf (llama.cpp)" in form
        answer = http.post("/try", data={"prompt": "hey it's Ana, two small teas please", "models": ["run:sft", ref],
                                         "max_new_tokens": "12", "temperature": "0"})
    assert answer.status_code == 200
    answers = {m[0]: html.unescape(m[1]) for m in re.findall(
        r'<section class="answer" data-model="([^"]+)"><h3>[^<]*</h3><pre>(.*?)</pre>', answer.text, re.S)}
    assert set(answers) == {"run:sft", ref} and answers["run:sft"] == answers[ref]


def test_a_gguf_outside_the_studio_folder_is_refused(gguf_studio, tmp_path):
    with httpx.Client(base_url=gguf_studio.url, timeout=60, headers={"Origin": gguf_studio.url}) as http:
        answer = http.post("/try", data={"prompt": "hi", "models": ["gguf:../../elsewhere/model-f16.gguf"]})
    assert answer.status_code in (400, 404) and "no GGUF file" in html.unescape(answer.text)
