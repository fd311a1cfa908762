"""The contract's topics (CONTRACT.md "Topics"), written down once: every name, the role an EOB
topic gives its events, which topics are inputs, reference data and outputs, and the
environment's prefix both ways. `streams.topics` creates and declares them on Kafka; everything
else asks here."""

from __future__ import annotations

from dataclasses import dataclass

from models.contract.events import Role

PRIMARY = "eob.primary"
SECONDARY = "eob.secondary"
PAYERS = "reference.payers"
FEE_SCHEDULE = "reference.fee-schedule"
SUBMITTED = "claims.submitted"
# Raw X12, not the contract's JSON: one interchange or one ST/SE transaction a message, an 835
# (remittances, into EOBs) or an 837P/837I (claims, into submissions), told apart by ST01.
REMITTANCE_X12 = "remittance.x12"
EXPECTED = "secondary.expected"
READY = "billing.ready"
DISCREPANCY = "billing.discrepancy"
SECONDARY_CLAIM = "secondary.claim"
DEAD_LETTER = "eob.dead-letter"
# Not the contract's: the worker's internal topic of EOBs re-keyed by claim id and clock ticks,
# the one stream that changes the claims table (so co-partitioned with its changelog).
CLAIM_EVENTS = "cobstream.claim-events"

EOB_TOPICS: dict[str, Role] = {PRIMARY: "primary", SECONDARY: "secondary"}
ROLE_TOPICS: dict[Role, str] = {role: topic for topic, role in EOB_TOPICS.items()}
REFERENCE_TOPICS = (PAYERS, FEE_SCHEDULE)
CLAIM_INPUT_TOPICS = (*EOB_TOPICS, SUBMITTED, REMITTANCE_X12)  # the inputs that become claim events
# The inputs with one claim a record, co-partitioned with the claims table: on the direct input
# path the claims agent joins such a record where it lands when that partition is its claim's
# (docs/ARCHITECTURE.md, "Input paths"); the rest go through the claim-events topic.
DIRECT_TOPICS = (*EOB_TOPICS, SUBMITTED)
INPUT_TOPICS = (*EOB_TOPICS, SUBMITTED, *REFERENCE_TOPICS, REMITTANCE_X12)
OUTCOME_TOPICS = (EXPECTED, READY, DISCREPANCY, SECONDARY_CLAIM)  # the outputs that carry a claim's revisions
OUTPUT_TOPICS = (*OUTCOME_TOPICS, DEAD_LETTER)


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The names of one environment: the contract's names behind a prefix (CONTRACT.md: several
    environments on one cluster)."""

    prefix: str = ""

    def full(self, name: str) -> str:
        """The name on the cluster of a contract topic."""
        return f"{self.prefix}{name}"

    def contract(self, full: str) -> str | None:
        """The contract's name of a topic on the cluster; None for a topic not of this
        environment or not of the contract."""
        name = full.removeprefix(self.prefix) if full.startswith(self.prefix) else None
        return name if name in _KNOWN else None


_KNOWN = frozenset((*INPUT_TOPICS, *OUTPUT_TOPICS, CLAIM_EVENTS))
