"""How many teacher requests are in flight at once: an AIMD window under `teacher.concurrency`.

A local server often answers one request at a time (llama-cpp-python holds one lock around its
model; a 400-token reply takes ~17 s on one CPU thread), so 32 requests sent at once queue for
minutes, time out, and fail the run although the server is healthy. The window finds what the
server can take, as TCP's congestion window does:

- it starts at 1 and grows by one per quick reply (doubling per round trip) until the first
  backoff, or the first reply that took over 1.5 times the server's own time for it (the queue
  has begun: as TCP's HyStart), then by 1/window per quick reply (one per round trip), never past
  the limit;
- it halves on a timeout or a slow reply, at most once per round trip (only a request started
  after the last halving can halve it again: the replies queued behind one slow request are slow
  for the same reason);
- slow: longer than `slow_factor` times what the server needs for a reply of that length (the
  fastest reply so far, or the lowest time per completion token times its length: a reply that
  waited in a queue can only be slower, so the fastest ones are the server's own time; a cold
  first request, without the prompt cache, is soon undercut), or longer than half the timeout;
  replies under a tenth of the timeout are never slow (queueing that short costs nothing);
- a timeout of a request that started while others were in flight is put down to queueing: the
  client retries it once the window allows, without spending one of `teacher.max_retries`
  (with `teacher.adaptive_concurrency=false` the window stays at the limit and a timeout is a
  timeout, as before).

`Pace` holds only numbers (it outlives a teacher call and pickles with the teacher); `Gate` is its
asyncio face for one event loop. The clock is the caller's, so tests drive `Pace` without sleeping.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Ticket:
    """One request's start: how many of ours were in flight, and which halving it started after."""

    busy: int
    generation: int


class Pace:
    """The window and what it learnt (see the module docstring). `adaptive=False`: a fixed window of `limit`."""

    def __init__(self, limit: int, timeout: float, adaptive: bool = True, slow_factor: float = 3.0):
        if limit < 1:
            raise ValueError(f"teacher.concurrency must be >= 1, got {limit}")
        self.limit, self.timeout, self.adaptive, self.slow_factor = int(limit), float(timeout), adaptive, slow_factor
        self.hystart = 1.5  # a reply this much over the server's own time ends the doubling
        self.window = 1.0 if adaptive else float(limit)
        self.in_flight = 0
        self.generation = 0
        self.slow_start = True
        self.base_latency: float | None = None  # the fastest reply so far (seconds)
        self.base_per_token: float | None = None  # the lowest seconds per completion token so far
        self.backoffs: Counter = Counter()  # "timeout" / "slow" -> halvings
        self.peak = self.window

    # --- the window ---------------------------------------------------------------------------
    @property
    def allowed(self) -> int:
        return max(1, min(self.limit, int(self.window)))

    def may_start(self) -> bool:
        return self.in_flight < self.allowed

    def start(self) -> Ticket:
        ticket = Ticket(self.in_flight, self.generation)
        self.in_flight += 1
        return ticket

    def end(self, ticket: Ticket) -> None:
        self.in_flight -= 1

    # --- what a reply says ----------------------------------------------------------------------
    def expected(self, tokens: int) -> float | None:
        """What the server needs for a reply of `tokens` completion tokens, unqueued (None: no reply yet)."""
        if self.base_latency is None:
            return None
        return max(self.base_latency, tokens * (self.base_per_token or 0.0))

    def replied(self, ticket: Ticket, latency: float, tokens: int) -> bool:
        """Record a reply; True if it was slow (the window halved, or would have at this halving)."""
        self.base_latency = latency if self.base_latency is None else min(self.base_latency, latency)
        per_token = latency / max(1, tokens)
        self.base_per_token = per_token if self.base_per_token is None else min(self.base_per_token, per_token)
        expected = self.expected(tokens)
        slow = latency > 0.1 * self.timeout and (
            latency > 0.5 * self.timeout or (expected is not None and latency > self.slow_factor * expected))
        if slow:
            self._halve(ticket, "slow")
        else:
            if expected is not None and latency > self.hystart * expected:
                self.slow_start = False
            self._grow()
        return slow

    def timed_out(self, ticket: Ticket) -> bool:
        """Record a timeout; True if it is put down to queueing (others of ours were in flight when
        it started), so its retry is free."""
        self._halve(ticket, "timeout")
        return self.adaptive and ticket.busy > 0

    def _halve(self, ticket: Ticket, why: str) -> None:
        if not self.adaptive or ticket.generation != self.generation:
            return
        self.window = max(1.0, self.window / 2)
        self.generation += 1
        self.slow_start = False
        self.backoffs[why] += 1

    def _grow(self) -> None:
        if not self.adaptive:
            return
        self.window = min(float(self.limit), self.window + (1.0 if self.slow_start else 1.0 / self.window))
        self.peak = max(self.peak, self.window)

    def summary(self) -> str:
        """Where the window settled and why, for the one log line per teacher call."""
        if not self.adaptive:
            return f"concurrency fixed at {self.limit} (teacher.adaptive_concurrency=false)"
        why = ", ".join(f"{n} on {'timeouts' if k == 'timeout' else 'slow replies'}" for k, n in
                        sorted(self.backoffs.items())) or "none"
        lone = f"; fastest reply {self.base_latency:.2g} s" if self.base_latency is not None else ""
        return (f"concurrency settled at {self.allowed} of teacher.concurrency={self.limit} "
                f"(peak {min(self.limit, int(self.peak))}; halvings: {why}{lone})")


class Gate:
    """`Pace` for one event loop: `async with gate.slot() as ticket` waits until the window has room."""

    def __init__(self, pace: Pace):
        self.pace = pace
        self._cond = asyncio.Condition()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Ticket]:
        async with self._cond:
            await self._cond.wait_for(self.pace.may_start)
            ticket = self.pace.start()
        try:
            yield ticket
        finally:
            async with self._cond:
                self.pace.end(ticket)
                self._cond.notify_all()
