"""A TCP proxy on a loopback port that a test can cut and restore: the database going away and
coming back, as the server sees it, without touching the real PostgreSQL everyone else uses.

It runs its own event loop in a thread, so synchronous tests and servers in other threads can use
it alike. Cut, every open connection is reset and every new one is closed as soon as it arrives -
or, cut ``silent``, accepted and never answered, like a database host that hangs. Restored, it
passes bytes both ways again.
"""

from __future__ import annotations

import asyncio
import threading


class Proxy:
    """Forwards ``127.0.0.1:<port>`` to ``target_host:target_port`` until :meth:`cut`."""

    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 5432) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.is_cut = False
        self.silent = False
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="proxy")
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()  # both ends of every forwarded connection
        self._unanswered: set[asyncio.StreamWriter] = set()  # accepted while cut silent

    def start(self) -> Proxy:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self, *, silent: bool = False) -> None:
        """The database is gone: reset every connection through the proxy, and close new ones at
        once (or, ``silent``, leave them unanswered)."""
        async def cut() -> None:
            self.is_cut, self.silent = True, silent
            self._abort(self._open)
        self._call(cut())

    def restore(self) -> None:
        async def restore() -> None:
            self.is_cut = self.silent = False
            self._abort(self._unanswered)
        self._call(restore())

    def close(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            self._abort(self._open | self._unanswered)
            await self._server.wait_closed()
        self._call(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    def _call(self, coroutine):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    @staticmethod
    def _abort(writers: set[asyncio.StreamWriter]) -> None:
        for writer in list(writers):
            writer.transport.abort()  # a reset, not a polite close: the connection is simply gone

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut and self.silent:
            self._unanswered.add(writer)
            try:
                await reader.read()  # until the client gives up or the proxy is restored
            except OSError:
                pass
            finally:
                self._unanswered.discard(writer)
                writer.transport.abort()
            return
        if self.is_cut:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, upstream_writer))
        try:
            await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        finally:
            self._open.difference_update((writer, upstream_writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:  # reset by a cut, or by the other side
            pass
        finally:
            writer.transport.abort()
