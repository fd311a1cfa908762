"""Helpers shared by several commands (and by the tests); none of these modules is a command.

- `arguments`: argparse types the command lines share (`timestamp_argument`).
- `replay_format`: the replay format of CONTRACT.md (JSON Lines in, through the engine, out).
- `explanation`: one claim replayed through the engine and explained (`cobstream explain`, the UI).
- `explanation_text`: an explanation as plain text for a billing clerk (`cobstream explain`, the UI).
- `kafka_io`: publishing replay files to the input topics, reading the output topics back.
- `processes`: child processes (workers started by the demo, the bench and the tests).
- `progress`: progress bars on a terminal.
- `gc_tuning`: the garbage collector tuned for a stream of short-lived models.

A shared module imports no command module (`cobstream.commands`, the command bodies): the
commands depend on these, never the other way round.
"""
