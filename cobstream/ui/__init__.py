"""`cobstream ui`: the discrepancy work queue in the browser.

The reader (`reader.py`) copies the environment's topics into a local SQLite store
(`store.py`, what each record means: `records.py`); the pages (`pages.py`, `templates/`) list
the open discrepancies (`queue.py`) and show each claim's coverage (`coverage.py`), explanation
and history. The body
(`command.py`) runs both in one process; the command line is `cobstream.commands.ui`.
"""
