"""Prometheus metrics: requests, latency, tokens and tokens/s, queue depth, batch sizes, refusals."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# Each counter would otherwise get a *_created twin holding its creation time: noise on a page people read.
disable_created_metrics()

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """One registry per server, so several servers (tests, benchmarks) in one process keep separate counts."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("tunesmith_requests", "HTTP requests answered", ["route", "status"], registry=registry)
        self.latency = Histogram("tunesmith_request_seconds", "Time from request to the last byte of the response",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=registry)
        self.prompt_tokens = Counter("tunesmith_prompt_tokens", "Prompt tokens processed", ["model"], registry=registry)
        self.generated_tokens = Counter("tunesmith_generated_tokens", "Tokens generated", ["model"], registry=registry)
        self.generation_seconds = Counter("tunesmith_generation_seconds", "Time spent generating", ["model"],
                                          registry=registry)
        self.tokens_per_second = Gauge("tunesmith_tokens_per_second", "Generated tokens per second in the latest batch",
                                       ["model"], registry=registry)
        self.batch_rows = Histogram("tunesmith_batch_rows", "Sequences run through the model together",
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=registry)
        self.queue_depth = Gauge("tunesmith_queue_depth", "Requests waiting for the model", registry=registry)
        self.rejected = Counter("tunesmith_rejected", "Requests refused with 503 because the queue was full",
                                registry=registry)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_batch(self, model: str, rows: int, prompt_tokens: int, generated: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.prompt_tokens.labels(model).inc(prompt_tokens)
        self.generated_tokens.labels(model).inc(generated)
        self.generation_seconds.labels(model).inc(seconds)
        if seconds > 0:
            self.tokens_per_second.labels(model).set(generated / seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
