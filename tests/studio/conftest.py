"""A studio folder with two finished LoRA runs on the tiny model, the studio serving it, and headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from studio_helpers import PROMPTS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def copy_run(run: Path, target: Path, negate_adapter: bool = False) -> Path:
    """A copy of a finished run (without its checkpoints); negate_adapter flips the LoRA B matrices, which gives
    a second model with other answers."""
    shutil.copytree(run, target, ignore=shutil.ignore_patterns("checkpoints"))
    if negate_adapter:
        from safetensors.torch import load_file, save_file

        weights = target / "adapter" / "adapter_model.safetensors"
        save_file({k: (-v if "lora_B" in k else v) for k, v in load_file(weights).items()}, weights)
    return target


@pytest.fixture(scope="session")
def studio_root(lora_run, tmp_path_factory) -> Path:
    run, _ = lora_run
    root = tmp_path_factory.mktemp("studio") / "runs"
    root.mkdir()
    copy_run(run, root / "sft-a")
    copy_run(run, root / "sft-b", negate_adapter=True)
    return root


@pytest.fixture(scope="session")
def prompts_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "orders.txt"
    path.write_text("".join(line + "\n" for line in PROMPTS))
    return path


@pytest.fixture(scope="session")
def studio(studio_root):
    """The studio on a free loopback port, in this process (the model cache then warms once for all tests)."""
    from tunesmith.serve import start_in_background
    from tunesmith.studio import StudioSettings, create_app

    running = start_in_background(create_app(StudioSettings(root=studio_root)))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("no Chromium at /usr/bin/chromium: scripts/install.sh installs it with apt-get "
                    "(apt-get install chromium); it could not on this machine")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is missing: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    # The studio's Content-Security-Policy would also stop injected scripts; bypassing it here makes the tests
    # prove that escaping alone keeps markup in prompts and answers inert.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_studio_process(root: Path, database: Path, port: int) -> subprocess.Popen:
    """`tunesmith studio` as its own process (so a test can kill it), ready when it answers."""
    import httpx

    process = subprocess.Popen([sys.executable, "-m", "tunesmith", "studio", str(root), "--port", str(port),
                                "--db", str(database)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the studio exited: {process.stdout.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/runs", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the studio did not start within 90 s")
