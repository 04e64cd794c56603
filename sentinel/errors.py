"""The whole exception tree of sentinel.

::

    SentinelError
    ├── ConfigError        every problem of one config file, each with file, line and key path
    ├── WebConfigError     (a ConfigError) the exporter-toolkit web config file
    ├── SampleError        the local interface sampler could not read the kernel's counters
    ├── NotifyError        the systemd notify socket could not be reached
    ├── CaptureError       the capture source cannot be opened or read
    └── SnmpError          one SNMP request failed (kind: protocol)
        ├── SnmpTimeout    no answer (kind: timeout)
        │   └── SnmpMalformed  no valid answer, but undecodable ones (kind: malformed)
        ├── SnmpAuthError  SNMPv3 user, keys, time window (kind: auth)
        └── SnmpTooBig     the response does not fit one message
"""

from __future__ import annotations

from dataclasses import dataclass


class SentinelError(Exception):
    """Base of every error sentinel raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file: where it is and what is wrong."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(SentinelError):
    """A config file that cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class WebConfigError(ConfigError):
    """The web config file (TLS, basic auth) cannot be used."""


class SampleError(SentinelError):
    """The kernel's interface counters could not be read."""


class NotifyError(SentinelError):
    """The systemd notify socket could not be reached."""


class SnmpError(SentinelError):
    """An SNMP request failed; ``kind`` is the metric label (see ``SNMP_ERROR_KINDS``).

    ``status`` is the PDU error status name (``genErr``, ``noAccess``...) when the agent
    answered with one.
    """

    kind = "protocol"

    def __init__(self, message: str, status: str = "") -> None:
        super().__init__(message)
        self.status = status


class SnmpTimeout(SnmpError):
    """The agent did not answer within timeout x (retries + 1)."""

    kind = "timeout"


class SnmpMalformed(SnmpTimeout):
    """No valid answer in time, but the agent sent datagrams that do not decode as SNMP
    (random bytes, BER cut short, lengths that lie): a broken agent or something else
    answering on its port, not a silent one."""

    kind = "malformed"


class SnmpAuthError(SnmpError):
    """SNMPv3 security failed: unknown user, wrong keys, time window, security level."""

    kind = "auth"


# Every value of the ``kind`` label of sentinel_snmp_errors_total, a fixed set.
SNMP_ERROR_KINDS = ("timeout", "malformed", "auth", "protocol")


class SnmpTooBig(SnmpError):
    """The response would not fit in one message (errorStatus tooBig)."""


class CaptureError(SentinelError):
    """The capture source (interface or file) cannot be opened or read."""
