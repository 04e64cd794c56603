"""The seam between the router and the places alerts go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from sentinel.errors import SentinelError
from sentinel.model import Alert

if TYPE_CHECKING:
    from collections.abc import Sequence


class SinkError(SentinelError):
    """One delivery attempt failed; the outbox keeps the alert and retries later.

    ``delivered``: ids of the events of the batch that did get through before the failure
    (a mail server that took three mails and stalled on the fourth); they are not retried.
    """

    def __init__(self, message: str, delivered: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.delivered = tuple(delivered)


@dataclass(frozen=True, slots=True)
class Event:
    """One outbox entry handed to a sink: the alert (``resolved`` set for an end) and its id."""

    id: int
    alert: Alert
    created: float  # unix time the router accepted it


class Sink(Protocol):
    """Delivers events somewhere; ``send`` raises ``SinkError`` when nothing was delivered.

    ``batch`` is how many events one ``send`` may take. A sink whose ``send`` returns has
    delivered every event given (at least once: a retry after a lost answer repeats it); a
    ``SinkError`` names the events it did deliver, so those are not sent again.
    """

    name: ClassVar[str]
    batch: ClassVar[int]

    async def send(self, events: Sequence[Event]) -> None: ...

    async def close(self) -> None: ...
