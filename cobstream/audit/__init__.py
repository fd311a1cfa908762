"""`cobstream audit`: after an incident, account for every EOB and every outcome on the topics.

- `read`: every partition of the input, claim-events and output topics read with aiokafka (no
  consumer group, read_committed) up to its end offset, from the beginning or from a time.
- `judge`: `audit(records)`, pure (no Kafka, no clock): every EOB taken in or dead-lettered, each
  claim's claim events replayed through the core (`replay_through_core`) and compared with the
  output topics; an `AuditReport` of `Finding`s.
- `jobs`: the claims' judgement split over processes (`--jobs`).
- `report`: the summary and the JSON.
- `model`: their shared vocabulary (`TopicRecord`, the finding kinds, `Finding`, `AuditReport`).
- `command`: the command's body (read, judge, print, exit status); its command line is
  `cobstream.commands.audit`.

Findings name claim ids, event ids, revisions and topic[partition]@offset places, never amounts
or patient data.
"""
