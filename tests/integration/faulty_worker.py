"""`cobstream worker` with two faults injected, for tests/integration/test_fault_injection.py.

- Every claims-table changelog write takes 0.3 s to reach aiokafka (a busy producer, as under
  load), so table writes wait in Faust's producer buffer when a commit comes.
- The process SIGKILLs itself right after its first commit of offsets of the claims agent's
  topics (claim-events and, on the direct input path, the EOB and submission topics), printing
  how many table writes were still in the buffer at that moment; or, with
  COBSTREAM_FAULT_MODE=before-any-commit, half a second after its 20th table write, before any
  commit: its RocksDB state then holds writes the changelog never got.

With COBSTREAM_FAULT_STOCK_FAUST=1 the worker runs on Faust's own transport, without
streams/kafka_internals.py's safeguards (to show what they prevent).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from faust.transport.consumer import ThreadDelegateConsumer
from faust.transport.producer import ProducerBuffer

from cobstream.cli import main as cobstream
from models.contract.topics import CLAIM_EVENTS
from streams import kafka_internals
from streams.settings import Settings

CHANGELOG_DELAY = 0.3


def slow_changelog_sends() -> None:
    hand_over = ProducerBuffer._send_pending

    async def slowly(self: ProducerBuffer, fut: Any) -> None:
        if fut.message.channel.get_topic_name().endswith("-changelog"):
            await asyncio.sleep(CHANGELOG_DELAY)
        await hand_over(self, fut)

    ProducerBuffer._send_pending = slowly  # type: ignore[method-assign]


def die_after_first_claims_agent_commit() -> None:
    commit = ThreadDelegateConsumer._commit
    settings = Settings.from_env()
    claims_agent_reads = {settings.topic(name) for name in (CLAIM_EVENTS, *settings.direct_topics)}

    async def commit_then_die(self: ThreadDelegateConsumer, offsets: Any) -> bool:
        done = await commit(self, offsets)
        if done and any(tp.topic in claims_agent_reads for tp in offsets):
            buffer = self.app.producer.buffer
            unsent = getattr(buffer, "unsent", buffer.size)
            print(f"FAULT: claims agent offsets committed with {unsent} table writes unsent; SIGKILL", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return done

    ThreadDelegateConsumer._commit = commit_then_die  # type: ignore[method-assign]


def die_before_any_commit(writes: int = 20) -> None:
    put = ProducerBuffer.put

    def put_then_die(self: ProducerBuffer, fut: Any) -> None:
        put(self, fut)
        self.fault_writes = getattr(self, "fault_writes", 0) + 1
        if self.fault_writes == writes:
            print(f"FAULT: {writes} table writes in RocksDB, none in the changelog yet; SIGKILL", flush=True)
            asyncio.get_running_loop().call_later(0.5, os.kill, os.getpid(), signal.SIGKILL)

    ProducerBuffer.put = put_then_die  # type: ignore[method-assign]


def main() -> int:
    slow_changelog_sends()
    if os.environ.get("COBSTREAM_FAULT_MODE") == "before-any-commit":
        die_before_any_commit()
    else:
        die_after_first_claims_agent_commit()
    if os.environ.get("COBSTREAM_FAULT_STOCK_FAUST") == "1":
        kafka_internals.install = lambda *_args, **_kwargs: None  # type: ignore[assignment]

    return cobstream(["worker"])


if __name__ == "__main__":
    sys.exit(main())
