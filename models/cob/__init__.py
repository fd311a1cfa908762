"""The COB rules and the claim (COB_RULES.md): the per-line arithmetic, a claim's settlement and
verdicts, the claim's state and how one event changes it, its timers, the claim processor that
every driver (replay, audit, worker) runs, and the census of claims by status. Built on
`models.contract`; no Kafka, no I/O, no clock reads."""
