"""When to restart a worker that exited: a named, configurable policy."""

from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    """Restart at once the first time, then back off exponentially.

    ``first_delay_s`` · ``factor``^(n-1) for the n-th consecutive crash, capped
    at ``max_delay_s``; a worker that stayed up ``stable_after_s`` resets the
    count.
    """
    first_delay_s: float = 0.1
    factor: float = 2.0
    max_delay_s: float = 10.0
    stable_after_s: float = 30.0

    def delay(self, consecutive_crashes: int) -> float:
        if consecutive_crashes <= 1:
            return 0.0
        return min(self.max_delay_s, self.first_delay_s * self.factor ** (consecutive_crashes - 2))
