"""The pace of one API host, found the way TCP finds the pace of a network.

:class:`PaceController` decides how many requests may be in flight, and how many calls per
second to send, from what the service's answers show:

- **Concurrency** (a window, as in TCP Vegas and Netflix's ``concurrency-limits`` Gradient):
  it starts at 4 and, while the latency stays near its observed floor, grows by one per answer
  (slow start). After that it is judged by samples: two windows' worth of answers at one
  window size, counted against the clock (the client's own time between requests included), and
  compared with the windows about a quarter larger and a fifth smaller tried recently:

  - a larger window did better: grow by two (however slow each answer became);
  - requests queue at the service (Vegas' estimate: the window times the share of each
    answer's time above the floor, more than 3 waiting) and a smaller window did as well (or,
    none tried, a larger one did no better; or the queue is long and the gain small): shrink
    by a fifth (multiplicative decrease);
  - a larger window did no better: hold, and try it again after three samples;
  - otherwise (a gain over the smaller window, or nothing known yet): grow by two (additive
    increase, about one per round trip).

  While the client's own threads use most of a core, slower answers are its own doing (it
  shares its cores with the service, or parses as fast as it can), not the service queueing:
  then throughput alone decides.
  A 429, a 503 or a time-out halves it at once.
- **Rate** (as the AWS SDKs' adaptive retry mode): a 429 shows the rate the service allows. The
  rate of answers in the second before it, less 15 %, becomes the pace, which then grows again
  by 2 % a second until the next 429 (only while the answers use at least 80 % of it: a
  client slower than the rate learns nothing of the service), so a later fetch meets few
  429s. ``RateLimit-*`` and ``X-RateLimit-*`` headers, when a service sends them, are read by
  the transport (``core.rate_limit.rate_hint``) and cap the rate.

One controller per host is shared by every fetch of a session, so what one cell learned the
next one starts with; what a session learned is kept in the user cache
(:mod:`.pace_memory`) and a new session starts from it, warm (:meth:`PaceController.warm`).
A fixed concurrency (``--concurrency N``) disables all of this.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PaceController", "PaceReport", "PaceState", "START", "CEILING", "WARM_HALF_LIFE"]

START = 4
"""Where the window starts: today's fixed default, right for a nearby, idle service."""
CEILING = 16
"""The default ``max_concurrency``."""
WARM_HALF_LIFE = 86_400.0
"""Seconds after which what an earlier session learned of a host counts half as much."""

# Slow start lasts while every answer's latency stays under GROW x its floor (+ a few ms of
# jitter, so that millisecond noise on a fast service does not end it).
_GROW = 1.2
_JITTER = 0.003  # seconds
# Past slow start, the service counts as queueing when more than this many requests wait there
# (Vegas' alpha), and as crowded beyond this many or half the window (Vegas' beta).
_QUEUED = 3.0
_CROWDED = 6.0
# A client busy for this many CPU seconds a second (its threads together) makes its own answers
# slow: a latency climb then says nothing of the service, and throughput alone decides.
_BUSY = 0.8
_GAIN = 1.05  # a larger window must bring 5 % more answers a second to count as a gain
_SAME = 1.02  # ...and under 2 % more is no gain at all (a service that only queues them)
_THROUGHPUT_MEMORY = 10.0  # seconds a window's throughput is remembered
_SAMPLE_WINDOWS = 2  # a sample: answers at one window size, this many windows of them
_SAMPLE_MIN = 12  # ...and at least this many answers
_STEP = 2.0  # the additive increase per sample (a sample is about two round trips)
_DECREASE = 0.8  # the window after a sample showed queueing
# Samples to stay at a window after a larger one did no better; then the larger one is tried
# again (one noisy sample must not hold the window down for good).
_HOLDS = 3
_THROTTLE_DECREASE = 0.5  # after a 429, a 503 or a time-out
_RATE_BACKOFF = 0.85  # the learned rate: the observed one, less 15 %
_RATE_GROWTH = 0.02  # per second without a 429, while the rate is in use:
_RATE_IN_USE = 0.8  # answers in the last second at least this share of the rate
# A rate is measured between two 429s this far apart (s): nearer, they are one push-back
# seen by every request in flight; farther, the pace in between was no longer near the limit.
_BETWEEN_429S = (0.5, 2.0)
_FLOOR_DRIFT = 0.01  # per second: the latency floor rises slowly, so a slower path is learned


@dataclass(frozen=True)
class PaceState:
    """What a controller learned of its host, to start a later session from (the file of
    :mod:`.pace_memory` holds it): the window, the most it reached, the rate the service
    allowed at its last 429, the quickest answer and the 429s seen."""

    window: float
    max_reached: int
    rate: float | None
    latency_floor: float | None
    throttled: int = 0


@dataclass(frozen=True)
class PaceReport:
    """What a controller found: the window now and at most, the learned rate, 429s seen."""

    adaptive: bool
    concurrency: int
    max_concurrency_reached: int
    ceiling: int
    rate_per_second: float | None
    throttled: int

    def as_dict(self) -> dict[str, Any]:
        """For ``df.attrs["elfsquad"]["pace"]``."""
        return {
            "adaptive": self.adaptive,
            "concurrency": self.concurrency,
            "max_concurrency_reached": self.max_concurrency_reached,
            "rate_per_second": None
            if self.rate_per_second is None
            else round(self.rate_per_second, 2),
            "throttled": self.throttled,
        }

    def __str__(self) -> str:
        if not self.adaptive:
            line = f"concurrency {self.concurrency} (fixed)"
        else:
            line = (
                f"concurrency {self.concurrency} (found by itself, at most "
                f"{self.max_concurrency_reached} so far, ceiling {self.ceiling})"
            )
        if self.rate_per_second is not None:
            line += f", learned rate {self.rate_per_second:.1f} calls/s"
        if self.throttled:
            line += f", {self.throttled} x 429 seen"
        return line


class PaceController:
    """The window of requests in flight and the learned rate for one API host (thread-safe).

    ``acquire``/``release`` gate the requests of a fetch; ``observe`` is told every answer's
    outcome (HTTP status or connection error) and latency; ``interval`` is the spacing the
    learned rate asks for. ``clock`` (wall time) and ``cpu_clock`` (the process's CPU time, which
    tells a client busy with its own work) are injectable so the decisions can be tested alone.
    """

    def __init__(
        self,
        *,
        start: int = START,
        floor: int = 1,
        ceiling: int = CEILING,
        fixed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        if fixed is not None:
            start = floor = ceiling = fixed
        self.adaptive = fixed is None
        self.floor = max(1, floor)
        self.ceiling = max(self.floor, ceiling)
        self.window = float(min(max(start, self.floor), self.ceiling))
        self.max_reached = int(self.window)
        self.throttled = 0
        self.rate: float | None = None  # calls per second, once learned
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._slow_start = True
        self._latency_floor: float | None = None
        self._floor_at = clock()
        self._recent: float | None = None  # short-term average latency
        self._decreased_at = float("-inf")
        self._answers: deque[float] = deque()  # times of the answers of the last second
        self._first_answer_at: float | None = None
        self._answered_count = 0  # answers that were no push-back, ever
        self._last_429: tuple[float, int] | None = None  # when, and the count then
        self._rate_at = clock()
        self._rate_cap: float | None = None  # from RateLimit headers
        self._in_flight = 0
        self._throughput: dict[int, tuple[float, float]] = {}  # window -> (pages/s, when)
        self._holds = 0
        self._learned_rate: float | None = None  # the rate set at the last 429
        self.answers = 0  # answers observed (a session that learned nothing saves nothing)
        self._sample_answers = 0
        self._sample_latency = 0.0  # the sum of the sample's latencies
        self._sample_since: float | None = None  # when the sample's counting began
        self._sample_cpu = 0.0  # the process's CPU time then
        self._last_answer_at: float | None = None
        self._sample_level = self.limit
        self._lock = threading.Condition()

    # -- the gate --------------------------------------------------------------------------

    @property
    def limit(self) -> int:
        """Requests that may be in flight now."""
        return max(self.floor, min(self.ceiling, int(self.window)))

    @property
    def in_flight(self) -> int:
        """Requests of the window under way now."""
        return self._in_flight

    def acquire(self, cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Wait for a place in the window; ``False`` when ``cancelled()`` became true."""
        with self._lock:
            while self._in_flight >= self.limit:
                if cancelled():
                    return False
                self._lock.wait(0.05)
            self._in_flight += 1
            return True

    def release(self) -> None:
        """A request of the window ended."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._lock.notify_all()

    def resume(self, samples: Mapping[int, float] | None = None) -> None:
        """Go on from what was learned before: slow start is over, and ``samples`` (window ->
        answers a second at that window) count as measured just now."""
        with self._lock:
            self._slow_start = False
            now = self._clock()
            for level, rate in (samples or {}).items():
                self._throughput[level] = (rate, now)

    def state(self) -> PaceState:
        """What was learned so far, to be remembered for a later session."""
        with self._lock:
            return PaceState(
                window=self.window,
                max_reached=self.max_reached,
                rate=self._learned_rate if self._learned_rate is not None else self.rate,
                latency_floor=self._latency_floor,
                throttled=self.throttled,
            )

    def warm(self, learned: PaceState, age: float) -> None:
        """Start from what an earlier session learned ``age`` seconds ago, trusting it less
        as it ages (half as much a day later), as TCP's metrics cache seeds a new connection's
        window and round trip: the window between :data:`START` and the one learned, the
        learned rate raised towards the one observed, the quickest answer drifting up as a
        floor does. Slow start is over once the window was learned larger than the start."""
        if not self.adaptive:
            return
        trust = 0.5 ** (max(0.0, age) / WARM_HALF_LIFE)
        window = round(START + (learned.window - START) * trust, 2)  # seconds old: as learned
        with self._lock:
            self.window = float(min(max(window, self.floor), self.ceiling))
            self.max_reached = max(self.max_reached, self.limit)
            if learned.rate is not None and learned.rate > 0:
                # Learned 15 % below what the service allowed: back up towards that as it ages.
                self.rate = learned.rate * (1 + (1 / _RATE_BACKOFF - 1) * (1 - trust))
                self._learned_rate = self.rate
                self._rate_at = self._clock()
            if learned.latency_floor is not None and learned.latency_floor > 0:
                self._latency_floor = learned.latency_floor
                self._floor_at = self._clock() - max(0.0, age)  # it has drifted up since
        if self.window > START:
            self.resume()

    # -- what the answers show ------------------------------------------------------------

    def observe(self, outcome: int | BaseException, latency: float) -> None:
        """One answer (an HTTP status) or connection error, and how long it took."""
        if not self.adaptive:
            if outcome == 429:
                with self._lock:
                    self.throttled += 1  # counted, for the report; nothing adapts
            return
        with self._lock:
            now = self._clock()
            self.answers += 1
            self._grow_rate(now)
            if isinstance(outcome, BaseException) or outcome in (429, 503, 502, 504):
                self._congested(now, throttled=outcome == 429)
            elif outcome < 500:
                self._answered(now, latency)
            self._lock.notify_all()

    def cap_rate(self, rate: float | None) -> None:
        """A rate the service announced (``RateLimit-*`` headers): never go faster."""
        if rate is None or rate <= 0 or not self.adaptive:
            return
        with self._lock:
            self._rate_cap = rate
            self.rate = rate if self.rate is None else min(self.rate, rate)

    @property
    def interval(self) -> float:
        """Seconds between calls the learned rate asks for (0: no pacing)."""
        rate = self.rate
        return 1.0 / rate if rate else 0.0

    def report(self) -> PaceReport:
        """What has been found so far."""
        return PaceReport(
            adaptive=self.adaptive,
            concurrency=self.limit,
            max_concurrency_reached=self.max_reached,
            ceiling=self.ceiling,
            rate_per_second=self.rate,
            throttled=self.throttled,
        )

    # -- the decisions (under the lock) ------------------------------------------------------

    def _answered(self, now: float, latency: float) -> None:
        if self._first_answer_at is None:
            self._first_answer_at = now
        self._answered_count += 1
        self._answers.append(now)
        while self._answers and now - self._answers[0] > 1.0:
            self._answers.popleft()
        if latency <= 0:
            return
        floor = self._latency_floor
        drift = 1 + _FLOOR_DRIFT * max(0.0, now - self._floor_at)
        floor = latency if floor is None else min(floor * drift, latency)
        self._latency_floor, self._floor_at = floor, now
        recent = self._recent
        self._recent = latency if recent is None else 0.7 * recent + 0.3 * latency
        last = self._last_answer_at
        idle = last is not None and now - last > max(1.0, 4 * self._recent)
        self._last_answer_at = now
        if idle or self._in_flight + 1 <= self.limit / 2:
            # A fetch ending (its last pages), or none for a while: the window is not what
            # limits the answers, which say nothing of it.
            self._restart_sample(None)
            return
        if self._slow_start:
            if self._in_flight + 1 < self.limit:
                return  # growth only while the window is full
            # One slow answer ends it (the average lags, and each answer meanwhile adds one).
            if latency > floor * _GROW + _JITTER:
                self._slow_start = False  # past the knee: from here on, samples decide
                self._restart_sample(now)
                return
            self.window = min(self.window + 1.0, float(self.ceiling))
            self.max_reached = max(self.max_reached, self.limit)
            return
        level = self.limit
        if level != self._sample_level:
            self._restart_sample(now)
            return
        if self._sample_since is None:
            self._restart_sample(now)  # answers are counted from here: none was on its way
            return
        self._sample_answers += 1
        self._sample_latency += latency
        elapsed = now - self._sample_since
        if self._sample_answers >= max(_SAMPLE_MIN, _SAMPLE_WINDOWS * level) and elapsed > 0:
            mean = self._sample_latency / self._sample_answers
            # Answers counted against the clock: what the fetch gets, the client's own time
            # between requests included (a latency alone leaves that out).
            rate = self._sample_answers / elapsed
            known = self._throughput.get(level)
            fresh = known is not None and now - known[1] <= _THROUGHPUT_MEMORY
            self._throughput[level] = (0.5 * known[0] + 0.5 * rate if fresh else rate, now)
            busy = (self._cpu_clock() - self._sample_cpu) / elapsed >= _BUSY
            self._judge(now, level, mean, busy=busy)
            self._restart_sample(now)

    def _restart_sample(self, now: float | None) -> None:
        """A new sample at the window as it is now, counted from ``now`` (``None``: from the
        next answer, when the answers did not keep coming)."""
        self._sample_answers, self._sample_latency, self._sample_level = 0, 0.0, self.limit
        self._sample_since = now
        if now is not None:
            self._sample_cpu = self._cpu_clock()

    def _judge(self, now: float, level: int, latency: float, *, busy: bool = False) -> None:
        """After a sample at window ``level`` (mean ``latency``; ``busy``: the client's own CPU
        was the limit): grow, hold or shrink, by what the windows about a fifth smaller and a
        quarter larger gave (answers a second, recently)."""
        here = self._throughput[level][0]
        smaller = self._best(now, lambda other: other <= level * 0.8)
        larger = self._best(now, lambda other: other >= level * 1.25)
        floor = self._latency_floor or latency
        # Requests waiting at the service (TCP Vegas' estimate): the window times the share of
        # each answer's time that is more than the floor. Not when the client was busy: its
        # answers then wait for the client, not the service.
        queued = 0.0 if busy or latency <= 0 else level * (1 - floor / latency)
        queueing = queued > _QUEUED
        crowded = queued > max(_CROWDED, level / 2)
        gain = None if smaller is None else here / smaller
        if larger is not None and larger > here * _GAIN:
            self._grow()  # a larger window did better, however slow each answer became
        elif queueing and (
            (gain is not None and gain <= _SAME)
            or (gain is None and larger is not None)
            or (crowded and (gain is None or gain <= _GAIN))
        ):
            # Requests wait at the service, and a smaller window did as well (or, with none
            # tried, a larger one did no better): it queues what is sent beyond that. Back
            # towards the smaller window. A gain of 2-5 % is kept unless the queue is long.
            self.window = max(float(self.floor), self.window * _DECREASE)
            self._decreased_at = now
            self._holds = 0
        elif larger is not None and self._holds < _HOLDS:
            self._holds += 1  # a larger window did no better: stay, and try it again later
        else:
            self._grow()  # a gain over the smaller window, or nothing known yet: try larger

    def _grow(self) -> None:
        self._holds = 0
        self.window = min(self.window + _STEP, float(self.ceiling))
        self.max_reached = max(self.max_reached, self.limit)

    def _best(self, now: float, wanted: Callable[[int], bool]) -> float | None:
        """The most answers a second a ``wanted`` window gave recently; ``None``: none tried."""
        values = [
            value
            for level, (value, at) in self._throughput.items()
            if wanted(level) and now - at <= _THROUGHPUT_MEMORY
        ]
        return max(values) if values else None

    def _congested(self, now: float, *, throttled: bool) -> None:
        # The answers in flight when the service pushed back all say so: one decrease per
        # round trip (as TCP does per window), not one per answer.
        round_trip = max(self._recent or 0.0, 0.05)
        if now - self._decreased_at >= round_trip:
            self.window = max(self.floor, self.window * _THROTTLE_DECREASE)
            self._decreased_at = now
        self._slow_start = False
        if throttled:
            self.throttled += 1
            observed = self._allowed_rate(now)
            if observed >= 1:
                learned = observed * _RATE_BACKOFF
                self.rate = learned if self.rate is None else min(self.rate, learned)
            elif self.rate is not None:
                self.rate *= _RATE_BACKOFF
            if self._rate_cap is not None and self.rate is not None:
                self.rate = min(self.rate, self._rate_cap)
            self._learned_rate = self.rate
            self._rate_at = now

    def _allowed_rate(self, now: float) -> float:
        """The answers a second the service allowed, seen at a 429: since the previous 429 when
        that was a while ago (a token bucket is empty after a 429, so what came since is its
        refill rate; the second before a first 429 also holds the bucket's initial burst),
        else over the last second, or the time since the first answer when that is shorter
        (a 429 early in a session must not teach a rate of 2/s)."""
        previous, self._last_429 = self._last_429, (now, self._answered_count)
        if previous is not None and _BETWEEN_429S[0] <= now - previous[0] <= _BETWEEN_429S[1]:
            return (self._answered_count - previous[1]) / (now - previous[0])
        while self._answers and now - self._answers[0] > 1.0:
            self._answers.popleft()
        if not self._answers or self._first_answer_at is None:
            return 0.0
        return len(self._answers) / min(1.0, max(now - self._first_answer_at, 0.05))

    def _grow_rate(self, now: float) -> None:
        if self.rate is None:
            return
        elapsed = now - self._rate_at
        if elapsed <= 0:
            return
        self._rate_at = now
        while self._answers and now - self._answers[0] > 1.0:
            self._answers.popleft()
        if len(self._answers) < _RATE_IN_USE * self.rate:
            # Answers well under the rate (a client slowed by its own cores, a few pages)
            # say nothing of what the service would allow: the rate waits, as TCP keeps its
            # window while the application sends less than it allows (RFC 7661).
            return
        self.rate *= (1 + _RATE_GROWTH) ** elapsed
        if self._rate_cap is not None:
            self.rate = min(self.rate, self._rate_cap)
