"""Capacity of the AWS stack by simulation: what a load of uploads does to its limits.

A discrete-event simulation (one second per step is too coarse: events are timed to the
millisecond) of the deployed path, with the limits that matter at scale:

- uploads arrive as a Poisson process at ``rate`` per second (a burst multiplies it for a while);
- each one is POST /uploads, then the browser's upload to S3 (``upload_s``), then an SQS
  message; the processor's SQS event source runs at most ``max_concurrency`` invocations
  (``ProcessorMaxConcurrency``), each taking ``process_s`` (lognormal around its mean) and
  making three Rekognition calls (DetectLabels, DetectText, DetectFaces), each API under its own
  transactions-per-second quota ``rekognition_tps`` (a call over the quota waits for the next
  second: the clients retry adaptively);
- the page polls GET /jobs/{id} as web/polling.js does (first after 250 ms, then x1.3, at
  most 1.5 s apart in the first minute and 5 s after; after a refused poll, twice the delay,
  1 to 15 s), until the job is done;
- the HTTP API's default route throttle (``ThrottlingRateLimit`` / ``ThrottlingBurstLimit``, a
  token bucket) answers 429 beyond it; a throttled poll is simply repeated later, a throttled
  POST /uploads is retried by the page after a second.

It prints, per scenario: uploads per minute, requests per second at the API (peak one-second
window), 429 share, processor concurrency (peak), Rekognition calls per second (peak), queue
depth (peak) and the time from the upload's arrival in S3 to COMPLETED (p50, p95, max).

    python bench/capacity_sim.py            # the scenarios of docs/capacity.md
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter, deque
from dataclasses import dataclass

# web/polling.js
POLL_FIRST_S = 0.25
POLL_GROWTH = 1.3
POLL_EARLY_MAX_S = 1.5
POLL_EARLY_PERIOD_S = 60.0
POLL_MAX_S = 5.0
POLL_ERROR_MAX_S = 15.0


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One load and one configuration of the stack's limits."""

    name: str
    rate: float  # uploads per second
    minutes: float = 10.0
    burst_factor: float = 1.0  # arrivals x this during the burst
    burst_from_s: float = 120.0
    burst_s: float = 60.0
    upload_s: float = 1.0  # browser -> S3 (0.5 MB on a hospital link)
    process_s: float = 2.0  # mean processor duration at 2048 MB, Rekognition included
    max_concurrency: int = 5  # ProcessorMaxConcurrency
    rekognition_tps: float = 50.0  # per API and account (check Service Quotas)
    api_rate: float = 50.0  # ThrottlingRateLimit
    api_burst: float = 100.0  # ThrottlingBurstLimit


@dataclass
class TokenBucket:
    """API Gateway's throttle: ``rate`` tokens per second, at most ``burst`` held."""

    rate: float
    burst: float
    tokens: float = 0.0
    at: float = 0.0

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Result:
    """What one scenario's run measured."""

    scenario: Scenario
    uploads: int
    completed: int
    api_peak_rps: int
    api_per_upload: float
    throttled_share: float
    peak_concurrency: int
    rekognition_peak_tps: int
    peak_queue: int
    latency_p50: float
    latency_p95: float
    latency_max: float

    def row(self) -> str:
        s = self.scenario
        burst = f" (x{s.burst_factor:g} burst)" if s.burst_factor > 1 else ""
        return (
            f"| {s.name} | {s.rate * 60:,.0f}{burst}"
            f" | {s.max_concurrency} | {s.api_rate:g}/{s.api_burst:g} | {self.api_peak_rps}"
            f" | {self.api_per_upload:.1f}"
            f" | {self.throttled_share:.1%} | {self.peak_concurrency} | {self.rekognition_peak_tps}"
            f" | {self.peak_queue} | {self.latency_p50:.1f} / {self.latency_p95:.1f} /"
            f" {self.latency_max:.1f} | {self.completed}/{self.uploads} |"
        )


def simulate(s: Scenario, *, seed: int = 7) -> Result:
    """Run ``s`` and measure it (deterministic for a seed)."""
    rng = random.Random(seed)
    end = s.minutes * 60
    events: list[tuple[float, int, str, int]] = []  # (time, tie-break, kind, job)
    counter = 0

    def push(at: float, kind: str, job: int) -> None:
        nonlocal counter
        counter += 1
        heapq.heappush(events, (at, counter, kind, job))

    t, job = 0.0, 0
    while True:
        rate = s.rate * (
            s.burst_factor if s.burst_from_s <= t < s.burst_from_s + s.burst_s else 1.0
        )
        t += rng.expovariate(rate)
        if t >= end:
            break
        push(t, "create", job)
        job += 1
    uploads = job
    api = TokenBucket(rate=s.api_rate, burst=s.api_burst, tokens=s.api_burst)
    api_second: Counter[int] = Counter()
    rekognition_second: Counter[int] = Counter()
    requests = throttled = 0
    queue: deque[int] = deque()
    running = 0
    peak_running = peak_queue = 0
    arrived: dict[int, float] = {}
    done: dict[int, float] = {}
    poll_delay: dict[int, float] = {}
    created_at: dict[int, float] = {}
    sigma = 0.5
    mu = math.log(s.process_s) - sigma**2 / 2

    per_api: dict[str, Counter[int]] = {"labels": Counter(), "text": Counter(), "faces": Counter()}

    def rekognition_slot(api_name: str, now: float) -> float:
        """When the next call of ``api_name`` may go: the first second with room under its
        quota (each API has its own)."""
        calls = per_api[api_name]
        second = int(now)
        while calls[second] >= s.rekognition_tps:
            second += 1
        calls[second] += 1
        rekognition_second[second] += 1
        return max(now, float(second))

    def start_processing(now: float) -> None:
        nonlocal running, peak_running
        while queue and running < s.max_concurrency:
            item = queue.popleft()
            running += 1
            peak_running = max(peak_running, running)
            work = rng.lognormvariate(mu, sigma)
            # three Rekognition calls, each waiting for room under its API's quota
            first = rekognition_slot("labels", now + work * 0.4)
            second = rekognition_slot("text", first + work * 0.1)
            third = rekognition_slot("faces", second + work * 0.1)
            push(third + work * 0.4, "finish", item)

    def api_call(now: float) -> bool:
        nonlocal requests, throttled
        requests += 1
        api_second[int(now)] += 1
        if api.take(now):
            return True
        throttled += 1
        return False

    while events:
        now, _, kind, item = heapq.heappop(events)
        if kind == "create":
            if not api_call(now):
                push(now + 1.0, "create", item)  # the page retries a refused POST
                continue
            created_at[item] = now
            push(now + s.upload_s, "arrive", item)
            poll_delay[item] = POLL_FIRST_S
            push(now + POLL_FIRST_S, "poll", item)
        elif kind == "arrive":
            arrived[item] = now
            queue.append(item)
            peak_queue = max(peak_queue, len(queue))
            start_processing(now)
        elif kind == "finish":
            running -= 1
            done[item] = now
            start_processing(now)
        elif kind == "poll":
            answered = api_call(now)
            if answered and item in done:
                continue  # the page stops polling a finished job
            if answered:
                early = now - created_at[item] < POLL_EARLY_PERIOD_S
                cap = POLL_EARLY_MAX_S if early else POLL_MAX_S
                delay = min(cap, poll_delay[item] * POLL_GROWTH)
            else:
                delay = min(POLL_ERROR_MAX_S, max(1.0, poll_delay[item] * 2))
            poll_delay[item] = delay
            push(now + delay, "poll", item)
    latencies = sorted(done[j] - arrived[j] for j in done)

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0

    return Result(
        scenario=s,
        uploads=uploads,
        completed=len(done),
        api_peak_rps=max(api_second.values(), default=0),
        api_per_upload=requests / uploads if uploads else 0.0,
        throttled_share=throttled / requests if requests else 0.0,
        peak_concurrency=peak_running,
        rekognition_peak_tps=max(rekognition_second.values(), default=0),
        peak_queue=peak_queue,
        latency_p50=quantile(0.5),
        latency_p95=quantile(0.95),
        latency_max=latencies[-1] if latencies else 0.0,
    )


PER_DAY_1M = 1_000_000 / 86_400  # 11.6 uploads/s on average
SCENARIOS = (
    Scenario(name="1,000/min, defaults", rate=1000 / 60),
    Scenario(
        name="1,000/min, sized",
        rate=1000 / 60,
        max_concurrency=60,
        api_rate=400,
        api_burst=800,
    ),
    Scenario(name="1 M/day, defaults", rate=PER_DAY_1M, burst_factor=3.0),
    Scenario(
        name="1 M/day, sized",
        rate=PER_DAY_1M,
        burst_factor=3.0,
        max_concurrency=80,
        api_rate=400,
        api_burst=800,
    ),
    Scenario(
        name="1 M/day, sized, Rekognition at 5 TPS",
        rate=PER_DAY_1M,
        burst_factor=3.0,
        max_concurrency=80,
        api_rate=400,
        api_burst=800,
        rekognition_tps=5,
    ),
)


def main() -> None:
    """Print the table of docs/capacity.md."""
    print(
        "| scenario | uploads/min | processor max concurrency | API rate/burst |"
        " API peak req/s | API req per upload | 429 share | processor peak concurrency |"
        " Rekognition peak calls/s (all APIs) | queue peak | S3 -> COMPLETED p50 / p95 / max s |"
        " completed |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for scenario in SCENARIOS:
        print(simulate(scenario).row())


if __name__ == "__main__":
    main()
