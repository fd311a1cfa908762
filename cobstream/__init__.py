"""The `cobstream` command line, laid out by command.

- `cli.py`: the table of commands and `main`.
- `commands/`: one module per command, each with `register(subparsers)`: its parser, and its body
  named with `deferred` (imported only when the command runs).
- The bodies: `replay.py`, `schema.py`, `convert.py`, `explain.py`, `worker.py`, `topics.py`,
  `produce.py`, `tail.py`, `demo.py`, and the packages `audit/`, `bench/`, `ui/`.
- `engine.py`: replay's in-process engine (also the demo's, the bench's and the explanations').
- `shared/`: helpers several commands use; a shared module imports no command.
"""
