"""An Ollama Modelfile for a GGUF export: the run's chat template translated to Ollama's Go template, its system
prompt, stop tokens and the decoding the run was evaluated with.

The translation renders a marked conversation through the run's template and reads off what comes before and
after each role's content; it is accepted only if the result re-renders a second conversation exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunesmith.data.tokenize import adds_bos, render
from tunesmith.errors import UserError

MODELFILE = "Modelfile"
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class TurnFormat:
    default_head: str  # what the template writes when the conversation has no system message ("" if nothing)
    before: dict  # role -> text before its content
    after: str  # text after every message's content (the end-of-turn)
    generation: str  # what starts the model's reply


def _mark(i: int) -> str:
    return f"\u2063MARK{i}\u2063"


def _pieces(tokenizer, roles: list[str]) -> list[str]:
    """The rendered conversation of `roles` (ending in a generation prompt) cut at every message's content."""
    messages = [{"role": role, "content": _mark(i)} for i, role in enumerate(roles)]
    text = render(tokenizer, messages, add_generation_prompt=True)
    pieces = []
    for i in range(len(roles)):
        head, _, text = text.partition(_mark(i))
        pieces.append(head)
    return [*pieces, text]


def _common_prefix(texts: list[str]) -> str:
    first = min(texts, key=len)
    for n in range(len(first), 0, -1):
        if all(t.startswith(first[:n]) for t in texts):
            return first[:n]
    return ""


def _end_of_turn(shared: str, eos: str | None) -> str:
    """The end-of-turn within what every message is followed by: up to the end-of-sequence token and the
    whitespace after it (the rest starts the next turn), or all of it when the template never writes eos."""
    at = shared.find(eos) if eos else -1
    if at < 0:
        return shared
    end = at + len(eos)
    return shared[: end + len(shared[end:]) - len(shared[end:].lstrip())]


def read_turn_format(tokenizer) -> TurnFormat:
    """Role prefixes and the shared end-of-turn from a system/user/assistant/user conversation."""
    roles = ["system", "user", "assistant", "user"]
    pieces = _pieces(tokenizer, roles)  # head, boundary x3, tail
    after = _end_of_turn(_common_prefix(pieces[1:]), tokenizer.eos_token)
    before = {"system": pieces[0]}
    for role, boundary in zip(roles[1:], pieces[1:-1]):
        before[role] = boundary[len(after):]
    no_system = _pieces(tokenizer, ["user"])[0]
    default_head = no_system[: len(no_system) - len(before["user"])] if no_system.endswith(before["user"]) else ""
    return TurnFormat(default_head, before, after, pieces[-1][len(after):])


def rebuild(turns: TurnFormat, roles: list[str], contents: list[str]) -> str:
    """What the Go template below produces for a conversation: the check against the real template."""
    text = "" if roles and roles[0] == "system" else turns.default_head
    for role, content in zip(roles, contents):
        text += turns.before[role] + content + turns.after
    return text + turns.generation


def go_template(turns: TurnFormat, bos: str | None) -> str:
    """One line of Go template actions (no `{{-` trimming: the end-of-turn's newline is part of the format)."""
    def literal(text: str) -> str:
        return text.removeprefix(bos) if bos else text  # llama.cpp adds the file's bos token itself

    head = (f'{{{{ if or (not .Messages) (ne (index .Messages 0).Role "system") }}}}{literal(turns.default_head)}'
            "{{ end }}" if turns.default_head else "")
    branches = "".join(f'{{{{ {"if" if i == 0 else "else if"} eq .Role "{role}" }}}}{literal(turns.before[role])}'
                       f"{{{{ .Content }}}}{turns.after}" for i, role in enumerate(ROLES))
    return f"{head}{{{{ range .Messages }}}}{branches}{{{{ end }}}}{{{{ end }}}}{turns.generation}"


def translate(tokenizer) -> TurnFormat:
    turns = read_turn_format(tokenizer)
    roles = ["system", "user", "assistant", "user", "assistant", "user"]
    contents = [f"c{i} text" for i in range(len(roles))]
    expected = render(tokenizer, [{"role": r, "content": c} for r, c in zip(roles, contents)],
                      add_generation_prompt=True)
    if rebuild(turns, roles, contents) != expected:
        raise UserError("the run's chat template does not reduce to per-role prefixes and one end-of-turn, so it "
                        "cannot be written as an Ollama TEMPLATE",
                        hint="export --format gguf and write the Modelfile's TEMPLATE by hand")
    return turns


def modelfile_text(tokenizer, gguf_name: str, system_prompt: str | None, context: int) -> str:
    turns = translate(tokenizer)
    bos = tokenizer.bos_token if adds_bos(tokenizer) else None
    stops = list(dict.fromkeys(s for s in (turns.after.strip(), tokenizer.eos_token) if s))
    lines = [f"FROM ./{gguf_name}", "", f'TEMPLATE """{go_template(turns, bos)}"""', ""]
    if system_prompt:
        lines += [f'SYSTEM """{system_prompt}"""', ""]
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    # Greedy: the decoding the run was evaluated with; raise temperature for more varied replies.
    lines += ["PARAMETER temperature 0", f"PARAMETER num_ctx {context}", ""]
    return "\n".join(lines)


def write_modelfile(folder: Path, tokenizer, gguf_name: str, system_prompt: str | None, context: int = 4096) -> Path:
    path = Path(folder) / MODELFILE
    path.write_text(modelfile_text(tokenizer, gguf_name, system_prompt, context))
    return path
