"""`cobstream ui`: the discrepancy work queue a billing team works in, in the browser.

The reader (`reader.py`) copies the environment's topics into a local SQLite store
(`store.py`, what each record means: `records.py`). The team's own record, which no topic
holds, is a second SQLite file (`work.py`: users, sessions, the work on each discrepancy, the
access log). The web application (`app.py`) puts together who may ask (`auth.py`, the sign-in
page `signin.py`), the read pages (`pages.py`, `templates/`: the queue of `queue.py`, a claim
with its coverage `coverage.py`, explanation and history), the work on a discrepancy
(`actions.py`), and the printouts and exports (`reports.py`: the appeal letter `appeal.py`, the
payer scorecard and the CSVs `scorecard.py`). The body (`command.py`) runs the reader and the
pages in one process and manages the users; the command line is `cobstream.commands.ui`.
"""
