"""Leaner Faust internals for one batch agent: per-message work Faust does that we never need.

* ``QuietMonitor``: the worker's own Prometheus metrics (``stream.metrics``) count posts per
  batch, so the four Python hooks Faust's ``Monitor`` runs per message (timestamps, per-topic
  counters, latency deques) are pure overhead.
* ``LeanConsumer``: Faust hands each fetched message to the streams inside
  ``wait_first(callback(message), suspend_flow.wait())``, which creates four tasks and an
  ``asyncio.wait`` per message. ``LeanConsumer`` wraps a whole fetch (up to
  ``broker_max_poll_records`` messages) in one ``wait_first``; a rebalance (``suspend_flow``), a
  stop or a crash still cancels the delivery at once, as Faust's own loop does.

* ``RawSchema``: the posts topic carries raw bytes, which Faust's schema still routes through
  its serializer registry (settings lookups, codec dispatch) for every key and value.

None of this touches acking or committing: the agent still acks a batch only after it is applied.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.sensors import Monitor
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka


class QuietMonitor(Monitor):
    """Faust's monitor without its per-message hooks; rebalance, commit and send hooks stay."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any,
                            state: Any = None) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None


class RawSchema(faust.Schema[bytes, bytes]):
    """Keys and values as the broker sent them (bytes or None), without the serializer registry."""

    def compile(self, app: Any, *, on_key_decode_error: Any = None,
                on_value_decode_error: Any = None, default_propagate: bool = False) -> Any:
        create_event = app.create_event

        async def decode(message: Any, *, propagate: bool = default_propagate) -> Any:
            return create_event(message.key, message.value, message.headers, message)

        return decode


class LeanConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with one ``wait_first`` per fetch instead of per message."""

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - in a worker
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                fetched = self.getmany(timeout=1.0)
                await self.sleep(0)
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()  # outside the cancellable delivery, as in Faust
                if not self.should_stop:
                    await self.wait_first(self._deliver(fetched), self.suspend_flow.wait())
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, fetched: Any) -> None:
        """Faust's per-message loop body, for every message of one fetch, in order."""
        callback = self.callback
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        since_yield = 0
        async for tp, message in fetched:
            since_yield += 1
            if since_yield > 100:  # let heartbeats and the web server in, as Faust does
                await asyncio.sleep(0)
                since_yield = 0
            offset = message.offset
            r_offset = read_offset[tp]
            if r_offset is None or offset >= r_offset:
                if r_offset and offset - r_offset > 1 and acks_enabled_for(message.topic):
                    await self._add_gap(tp, r_offset + 1, offset)
                await callback(message)
                read_offset[tp] = offset


class LeanTransport(faust_aiokafka.Transport):
    Consumer = LeanConsumer


class LeanApp(faust.App):
    """A Faust app whose consumer is ``LeanConsumer``."""

    def _new_transport(self) -> Any:
        return LeanTransport(self.conf.broker_consumer, self)
