"""Build an export in a temporary folder beside the target; it replaces the target only once it passed its check."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tunesmith.errors import UserError


def check_target(target: Path, force: bool, run: Path) -> None:
    """Refuse targets that would lose data: a file, the run itself (or a folder holding it), a non-empty folder."""
    target, run = target.resolve(), run.resolve()
    if target.exists() and not target.is_dir():
        raise UserError(f"--to {target} is an existing file, not a folder")
    if target == run or target in run.parents:
        raise UserError(f"--to {target} would replace the run directory {run}",
                        hint="export to a folder outside the run, e.g. exports/<name>")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise UserError(f"{target} already exists and is not empty; tunesmith does not overwrite it",
                        hint="choose another --to, or pass --force to replace it")


@contextmanager
def staged_folder(target: Path, force: bool, run: Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it becomes `target`, on any error it disappears."""
    check_target(target, force, run)
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replace_folder(staging, target)


def replace_folder(new: Path, target: Path) -> None:
    """Rename `new` to `target`; an older target is moved aside first and deleted only after the swap."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old)
