"""Continue from a finished run (`model.from_run`, `tunesmith train --from RUN`): a full run's weights become the
starting model; a LoRA-family run's adapter is trained further on the new data. The chain of runs is kept in the
manifest as `lineage` (oldest first), which `tunesmith runs` shows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import UserError
from tunesmith.models.saved import SavedModel, saved_model_of_run
from tunesmith.runs import open_run


@dataclass(frozen=True)
class Parent:
    run: Path
    saved: SavedModel
    method: str
    objective: str
    lineage: list  # the parent's own lineage, then the parent
    stack: bool = False  # model.from_run_adapter=stack: the parent's adapter merged, a new adapter on top

    @property
    def adapter(self) -> str | None:
        """The adapter folder the new run trains further, or None (a full-weights parent, or one stacked on)."""
        return self.saved.weights if self.saved.format == "adapter" and not self.stack else None


def parent_of(config) -> Parent | None:
    if not config.model.from_run:
        return None
    run = Path(config.model.from_run)
    if not (run / "config.yaml").is_file():
        raise UserError(f"model.from_run: {run} is not a run directory", hint="pass a folder that tunesmith train made")
    parent_config, manifest = open_run(run)
    saved = saved_model_of_run(run, log=lambda line: None)
    if not Path(saved.weights).is_dir():
        raise UserError(f"model.from_run: {run} has no trained weights yet", hint="let it finish first")
    entry = {"run": str(run.resolve()), "name": run.name, "method": parent_config.method.name,
             "objective": parent_config.objective.name, "train": parent_config.data.train}
    return Parent(run, saved, parent_config.method.name, parent_config.objective.name,
                  [*manifest.get("lineage", []), entry], config.model.from_run_adapter == "stack")


def _parent_labels(parent: Parent, given: list[str] | None) -> list[str] | None:
    """A classifier's labels are its parent's head, in the head's order."""
    id2label = parent.saved.model_kwargs.get("id2label")
    if not id2label:
        return given
    labels = [id2label[i] for i in sorted(id2label)]
    if given is not None and list(given) != labels:
        raise UserError(f"data.labels {list(given)} differ from the labels of {parent.run}'s head {labels}",
                        hint="continuing keeps the parent's head; drop data.labels, or give the first run every "
                             "label the sequence will need")
    return labels


def continue_from(config, log):
    """The config with its starting model taken from model.from_run (unchanged when it is not set), and the parent."""
    parent = parent_of(config)
    if parent is None:
        return config, None
    if parent.objective != config.objective.name and parent.saved.format == "adapter":
        raise UserError(f"model.from_run: {parent.run} trained objective {parent.objective}; continuing its adapter "
                        f"needs the same objective, not {config.objective.name}",
                        hint="use the same objective, or export the run merged and start from that folder")
    if parent.adapter is not None and parent.method != config.method.name:
        raise UserError(f"model.from_run: {parent.run} trained a {parent.method} adapter, which this run would "
                        f"train further; method.name is {config.method.name}", hint=f"set method.name={parent.method}")
    updated = config.model_copy(deep=True)
    updated.model.name = (parent.saved.base if parent.adapter is not None else
                          merged_parent(parent, log) if parent.stack else parent.saved.weights)
    updated.data.labels = _parent_labels(parent, config.data.labels)
    if config.data.rehearsal.lineage:
        updated.data.rehearsal.runs = [*dict.fromkeys([*(e["run"] for e in parent.lineage),
                                                       *config.data.rehearsal.runs])]
    what = (f"its {parent.method} adapter, trained further" if parent.adapter else
            f"its {parent.method} adapter merged, a new {config.method.name} adapter on top" if parent.stack else
            "its weights")
    log(f"continuing from {parent.run} ({what}; lineage: {' -> '.join(e['name'] for e in parent.lineage)})")
    if updated.data.labels and not config.data.labels:
        log(f"labels: the parent's head ({', '.join(updated.data.labels)})")
    return updated, parent


def with_parent_adapter(model, parent: Parent):
    """The base model with the parent's adapter loaded trainable, in place of a new one."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, parent.adapter, is_trainable=True)



def merged_parent(parent: Parent, log) -> str:
    """PARENT/merged/: the parent's model with its adapter folded into the weights (and its tokenizer), written
    once (to a temporary folder renamed into place) and shared by every run stacked on it."""
    import os
    import shutil

    from tunesmith.models.saved import load_run, merged

    folder = parent.run / "merged"
    if (folder / "config.json").is_file():
        return str(folder)
    loaded = load_run(parent.run, log=lambda line: None)
    tmp = parent.run / ".merged.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    merged(loaded.model).save_pretrained(tmp)
    loaded.tokenizer.save_pretrained(tmp)
    os.replace(tmp, folder)
    log(f"stacking: {parent.run.name}'s adapter merged into {folder}")
    return str(folder)
