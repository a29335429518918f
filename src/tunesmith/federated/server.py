"""The Flower ServerApp: the strategy (FedAvg, FedProx or FedAdam, optionally wrapped in server-side clipping and
Gaussian noise with a privacy accountant) and `Recorded`, which numbers rounds across resumes and keeps, per round,
who was asked, who answered, who failed and why, and the bytes sent each way.

The server runs in the process that called `tunesmith federate` (Flower's simulation runs it in a thread), so its
per-round callback (`after_round`) evaluates and checkpoints with the run's own model and trainer.
"""

from __future__ import annotations

from collections.abc import Iterable

from tunesmith.config import FederatedConfig


def _sampled(fed: FederatedConfig) -> int:
    return max(1, int(fed.clients * fed.fraction))


def base_strategy(fed: FederatedConfig):
    from flwr.serverapp.strategy import FedAdam, FedAvg, FedProx

    common = dict(fraction_train=fed.fraction, fraction_evaluate=0.0, min_train_nodes=_sampled(fed),
                  min_available_nodes=fed.clients)
    if fed.strategy == "fedprox":
        return FedProx(**common, proximal_mu=fed.proximal_mu)
    if fed.strategy == "fedadam":
        return FedAdam(**common, eta=fed.server_learning_rate)
    return FedAvg(**common)


def make_strategy(fed: FederatedConfig):
    """The configured strategy, with differential privacy around it when federated.privacy.clip is set."""
    strategy = base_strategy(fed)
    privacy = fed.privacy
    if privacy.clip is None:
        return strategy
    from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping
    from flwr.supercore.privacy_accounting import NeighboringRelation, PrivacyConfig, SamplingMethod
    from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

    accountant = RdpAccountant(PrivacyConfig(
        target_delta=privacy.delta, population_size=fed.clients,
        neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
        sampling_method=SamplingMethod.NO_AMPLIFICATION))
    return DifferentialPrivacyServerSideFixedClipping(strategy, privacy.noise, privacy.clip, _sampled(fed),
                                                      accountant=accountant)


def epsilon(strategy) -> float | None:
    """The privacy spent so far (epsilon at federated.privacy.delta), or None without accounting."""
    spent = strategy.privacy_spent() if hasattr(strategy, "privacy_spent") else None
    return float(spent.epsilon) if spent is not None else None


def _reason(text: str) -> str:
    """The client's own error from Flower's wrapped one (ClientAppException ... Message: <the error>)."""
    return text.rsplit("Message:", 1)[-1].strip().rstrip("'>").strip()[:300]


def _strategy_base():
    from flwr.serverapp.strategy import Strategy

    return Strategy


class Recorded(_strategy_base()):
    """A Flower Strategy around another that offsets round numbers by the rounds already done (a resumed
    federation continues its numbering) and records each round's traffic and failures in `rounds`."""

    def __init__(self, inner, clients: int, done: int, log):
        self.inner, self.clients, self.done, self.log = inner, clients, done, log
        self.names: dict[int, int] = {}  # node id -> client number (client_names)
        self.rounds: dict[int, dict] = {}

    def client_of(self, node: int):
        return self.names.get(node, f"node {node}")

    def summary(self) -> None:
        self.inner.summary()

    def configure_train(self, server_round: int, arrays, config, grid) -> Iterable:
        round_ = server_round + self.done
        messages = list(self.inner.configure_train(round_, arrays, config, grid))
        self.rounds[round_] = {"asked": sorted(self.client_of(m.metadata.dst_node_id) for m in messages),
                               "bytes_down": arrays.count_bytes() * len(messages)}
        return messages

    def aggregate_train(self, server_round: int, replies: Iterable):
        round_, replies = server_round + self.done, list(replies)
        record = self.rounds[round_]
        failed = [m for m in replies if m.has_error()]
        answered = [m for m in replies if not m.has_error()]
        record["failed"] = {self.client_of(m.metadata.src_node_id): _reason(m.error.reason) for m in failed}
        record["bytes_up"] = sum(r.count_bytes() for m in answered for r in m.content.array_records.values())
        record["clients"] = {int(m.content["metrics"]["client"]): {
            "rows": int(m.content["metrics"]["rows"]), "train_loss": float(m.content["metrics"]["train_loss"]),
            "seconds": float(m.content["metrics"]["seconds"])} for m in answered}
        for client, reason in record["failed"].items():
            self.log(f"round {round_}: client {client} failed ({reason}); "
                     f"the round goes on with the {len(answered)} that answered")
        arrays, metrics = self.inner.aggregate_train(round_, answered + failed)
        record["aggregated"] = arrays is not None
        if arrays is None:
            self.log(f"round {round_}: nothing to aggregate; the global weights stay as they were")
        return arrays, metrics

    def configure_evaluate(self, server_round: int, arrays, config, grid) -> Iterable:
        return []

    def aggregate_evaluate(self, server_round: int, replies: Iterable):
        return None


def client_names(grid, clients: int, wait: float = 300.0) -> dict[int, int]:
    """node id -> client number, asked of every node once they have all connected (in simulation: its partition
    id; on a SuperNode: its node config's partition-id)."""
    import time

    from flwr.app import Message, RecordDict

    deadline = time.monotonic() + wait
    while len(nodes := list(grid.get_node_ids())) < clients and time.monotonic() < deadline:
        time.sleep(0.2)
    asked = [Message(content=RecordDict(), message_type="query", dst_node_id=node) for node in nodes]
    replies = grid.send_and_receive(messages=asked, timeout=wait)
    return {m.metadata.src_node_id: int(m.content["metrics"]["client"]) for m in replies if not m.has_error()}


def serve_rounds(grid, strategy: Recorded, initial, rounds: int, settings: dict, after_round) -> None:
    """The ServerApp's work: name the nodes, then `rounds` rounds of `strategy` from the `initial` weights (an
    ArrayRecord), calling `after_round(round, arrays)` with the global round number after each."""
    from flwr.app import ConfigRecord

    strategy.names.update(client_names(grid, strategy.clients))

    def evaluate(server_round: int, arrays):
        if server_round:  # round 0 is the starting weights, scored before the first round
            after_round(server_round + strategy.done, arrays)

    strategy.start(grid=grid, initial_arrays=initial, num_rounds=rounds, train_config=ConfigRecord(settings),
                   evaluate_fn=evaluate)
