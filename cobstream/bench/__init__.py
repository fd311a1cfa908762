"""`cobstream bench`: throughput, latency, memory and recovery figures on the local real broker.

One run measures, each in a fresh topic prefix (`bench-<run>-<phase>.`) so that nothing mixes
with other runs or with the integration tests sharing the broker:

- core: the in-process engine (`cobstream.engine.Engine`, what `cobstream replay` drives) over
  the generated messages, no broker: claims/s and EOB events/s;
- baseline: a bare aiokafka consume-then-produce passthrough of the same EOB messages (same
  partition counts): messages/s, the ceiling for Python on this machine;
- faust, faust_table: a minimal Faust app built with the worker's own settings
  (`cobstream.bench.faust_app`) passing the pipeline's backlog through, the second also
  writing each message to a table like the worker's: messages/s, Faust's own ceiling;
- pipeline: one `cobstream worker` draining the same messages, pre-loaded as a backlog:
  EOB events/s and its ratios to the baseline and to the two Faust passthroughs;
- latency: secondary EOB produced -> its billing.ready consumed, at a fixed offered load of
  half the pipeline's rate (p50, p95, p99);
- scaleout: the same backlog drained by two workers (or `--workers-scaleout N`);
- state: RSS and on-disk state of a worker holding M open claims, and the time a fresh worker
  takes to recover that table from its changelog (extrapolated to 1,000,000 when M is smaller).

docs/PERFORMANCE.md says exactly what each figure measures. A benchmark reports, it never fails
on a timing: the exit status is non-zero only when a phase could not be measured at all (no
broker, a worker that died, outcomes that never came).

The command line is `cobstream.commands.bench` (options: `options.py`); the body `command.py`
runs the phases (`phases.py`) and writes the report (`report.py`). Bench helpers: the generated
traffic (`traffic.py`, also used by the resilience tests), the remittance conversion speed
(`remittance_speed.py`), the workload (`workload.py`), Kafka (`kafka.py`), workers
(`workers.py`), latency (`latency.py`), profiling (`profiling.py`), Faust passthroughs
(`faust_app.py`).
"""
