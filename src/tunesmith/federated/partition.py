"""Deal the prepared training split's rows to simulated clients (federated.partition).

- `iid`: shuffled with the run's seed and cut into near-equal parts.
- `dirichlet:ALPHA`: for each label, the clients' shares are drawn from Dirichlet(ALPHA, ..., ALPHA) and the
  label's rows are cut by them, so a small ALPHA leaves each client with a few labels (the usual non-IID benchmark
  of federated learning); classification only. Redrawn until every client holds rows.
- `by:FIELD`: one group per value of FIELD in the training file's rows (a site, a user, a hospital), groups dealt
  largest first to the client holding the fewest rows.

Indices refer to `data.tokenized["train"]` (and `data.splits["train"]`, the same order), which every process
prepares identically from the data cache.
"""

from __future__ import annotations

import random
from collections import Counter

from tunesmith.data.load import iter_records
from tunesmith.errors import UserError


def _source(row) -> str:
    return row.source if hasattr(row, "source") else row["_source"]


def _label(row):
    return row.get("label") if isinstance(row, dict) else None


def iid(n: int, clients: int, rng: random.Random) -> list[list[int]]:
    order = list(range(n))
    rng.shuffle(order)
    return [sorted(order[c::clients]) for c in range(clients)]


def dirichlet(labels: list, clients: int, alpha: float, rng: random.Random, tries: int = 100) -> list[list[int]]:
    """Rows of each label cut among clients by Dirichlet(alpha) shares; redrawn until no client is empty."""
    import numpy as np

    by_label: dict = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    draw = np.random.default_rng(rng.randrange(2**32))
    for _ in range(tries):
        parts: list[list[int]] = [[] for _ in range(clients)]
        for rows in by_label.values():
            rows = rows[:]
            rng.shuffle(rows)
            cuts = (np.cumsum(draw.dirichlet([alpha] * clients))[:-1] * len(rows)).round().astype(int)
            for client, piece in enumerate(np.split(np.array(rows), cuts)):
                parts[client].extend(int(i) for i in piece)
        if all(parts):
            return [sorted(p) for p in parts]
    raise UserError(f"federated.partition dirichlet:{alpha} left a client without rows in {tries} draws "
                    f"({len(labels)} rows, {len(by_label)} labels, {clients} clients)",
                    hint="raise ALPHA, or use fewer clients")


def field_values(train_file: str, field: str, columns: dict | None) -> dict[str, object]:
    """source ("file:line") -> the row's value of `field`, read from the training file."""
    values, seen = {}, set()
    for record in iter_records(train_file, columns=columns):
        seen.update(record.fields)
        if field in record.fields:
            values[record.source] = record.fields[field]
    if not values:
        raise UserError(f"federated.partition by:{field}: no row of {train_file} has a field '{field}'",
                        hint=f"its rows have: {', '.join(sorted(seen)) or 'no fields'}")
    return values


def by_field(sources: list[str], values: dict, field: str, clients: int) -> list[list[int]]:
    missing = [s for s in sources if s not in values]
    if missing:
        raise UserError(f"{missing[0]}: has no field '{field}' (federated.partition by:{field}); "
                        f"{len(missing)} training row(s) lack it")
    groups: dict = {}
    for i, source in enumerate(sources):
        groups.setdefault(str(values[source]), []).append(i)
    if len(groups) < clients:
        raise UserError(f"federated.partition by:{field}: {len(groups)} value(s) of '{field}', fewer than "
                        f"federated.clients={clients}", hint=f"set federated.clients to at most {len(groups)}")
    parts: list[list[int]] = [[] for _ in range(clients)]
    for rows in sorted(groups.values(), key=len, reverse=True):
        min(parts, key=len).extend(rows)
    return [sorted(p) for p in parts]


def partition(data, spec: str, clients: int, seed: int, train_file: str, columns: dict | None = None):
    """The row indices each client holds."""
    rows = data.splits["train"]
    if clients > len(rows):
        raise UserError(f"federated.clients={clients} is more than the {len(rows)} training rows",
                        hint="use fewer clients, or more data")
    rng = random.Random(seed)
    kind, _, arg = spec.partition(":")
    if kind == "iid":
        return iid(len(rows), clients, rng)
    if kind == "dirichlet":
        labels = [_label(row) for row in rows]
        if any(label is None for label in labels):
            raise UserError(f"federated.partition {spec} deals rows by label, and this objective's rows have none",
                            hint="use iid, or by:FIELD with a field of the training file")
        return dirichlet(labels, clients, float(arg), rng)
    return by_field([_source(row) for row in rows], field_values(train_file, arg, columns), arg, clients)


def describe(data, parts: list[list[int]]) -> list[dict]:
    """Per client: its rows and, for labelled rows, how many of each label."""
    rows = data.splits["train"]
    out = []
    for client, indices in enumerate(parts):
        labels = Counter(str(_label(rows[i])) for i in indices if _label(rows[i]) is not None)
        out.append({"client": client, "rows": len(indices), "labels": dict(sorted(labels.items()))})
    return out
