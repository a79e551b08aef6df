"""Bounded exponential backoff for writers that race other processes (SQLite locks, LanceDB commits)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 0.05
BACKOFF_MAX_S = 2.0


def retry_with_backoff(
    operation: Callable[[], T],
    is_retryable: Callable[[Exception], bool],
    give_up: Callable[[Exception], Exception],
    description: str,
    catch: tuple[type[Exception], ...] = (Exception,),
    max_attempts: int = MAX_ATTEMPTS,
) -> T:
    """Call `operation`, retrying with jittered exponential backoff while `is_retryable(error)`.

    After `max_attempts`, raises `give_up(error)` chained to the last error. Errors that
    are not retryable propagate at once.
    """
    for attempt in range(1, max_attempts + 1):
        try:
            return operation()
        except catch as error:
            if not is_retryable(error):
                raise
            if attempt == max_attempts:
                raise give_up(error) from error
            delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1)) * (0.5 + random.random())
            logger.warning(
                "%s: %s (attempt %d of %d); retrying in %.2f s", description, error, attempt, max_attempts, delay
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises on its last attempt
