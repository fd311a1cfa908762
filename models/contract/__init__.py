"""The event contract's types (CONTRACT.md): money and the other field types, the input events
(EOBs, payer profiles, fee-schedule entries) and the outcomes this system publishes. The lowest
layer of models/: it imports nothing else of the project."""
