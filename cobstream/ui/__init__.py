"""`cobstream ui`: the discrepancy work queue in the browser.

The reader (`reader.py`) copies the environment's topics into a local SQLite store
(`store.py`, what each record means: `records.py`); the pages (`pages.py`, `templates/`) list
the open discrepancies (`queue.py`) and show each claim's explanation and history. The command
(`command.py`) runs both in one process. Importing this package loads only argparse, so that
`cobstream --help` stays fast.
"""

from cobstream.ui.command import register

__all__ = ["register"]
