"""Light webhook receivers for the benchmarks: one asyncio process listening on many ports.

Each port is one endpoint (as each city office is a different server). Every request is
verified with ``standardwebhooks.Webhook(secret).verify`` and counted per event id; the
answer depends on the endpoint's kind:

- ``healthy``: 200 at once;
- ``slow``: 200 after ``slow_seconds``;
- ``flaky``: 500 for the first ``fail_times`` requests, then 200 (failing then recovering);
- ``jitter``: 200 after a random delay in ``[jitter_min, jitter_max]`` seconds.

``server="uvicorn"`` serves the same endpoints with uvicorn + Starlette instead of the raw
asyncio server (a heavier receiver, sharing the same two cores).

The parent talks to the process over a ``multiprocessing`` pipe: ``configure``, ``stats``,
``stop``. Loopback only (127.0.0.1); the process exits when told or when the parent dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

HOST = "127.0.0.1"


@dataclass
class EndpointSpec:
    secret: str
    kind: str = "healthy"
    slow_seconds: float = 1.0
    fail_times: int = 2
    jitter_min: float = 0.0
    jitter_max: float = 0.0


@dataclass
class EndpointState:
    spec: EndpointSpec
    requests: int = 0
    invalid: int = 0
    accepted: dict[str, int] = field(default_factory=dict)  # event id -> 2xx answers
    first_ok_at: dict[str, float] = field(default_factory=dict)  # event id -> unix time


class ReceiverProcess:
    """Runs in the child: the servers and the control loop."""

    def __init__(self, conn: Connection, count: int, server: str = "asyncio") -> None:
        self.conn = conn
        self.count = count
        self.server = server
        self.endpoints: dict[int, EndpointState] = {}
        self.in_flight = 0
        self.webhooks: dict[str, Any] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = writer.get_extra_info("sockname")[1]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers: dict[str, str] = {}
                for line in head.split(b"\r\n")[1:]:
                    name, sep, value = line.partition(b":")
                    if sep:
                        headers[name.strip().lower().decode()] = value.strip().decode()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status = await self.respond(port, headers, body)
                writer.write(b"HTTP/1.1 %d X\r\ncontent-length: 0\r\n\r\n" % status)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def respond(self, port: int, headers: dict[str, str], body: bytes) -> int:
        """Verify, count and answer one webhook request (the HTTP status)."""
        from standardwebhooks import Webhook

        arrived = time.time()
        self.in_flight += 1
        try:
            state = self.endpoints.get(port)
            if state is None:
                return 404
            state.requests += 1
            spec = state.spec
            hook = self.webhooks.get(spec.secret)
            if hook is None:
                hook = self.webhooks[spec.secret] = Webhook(spec.secret)
            try:
                hook.verify(body, headers)
            except Exception:
                state.invalid += 1
                return 400
            if spec.kind == "flaky" and state.requests <= spec.fail_times:
                return 500
            if spec.kind == "slow":
                await asyncio.sleep(spec.slow_seconds)
            elif spec.kind == "jitter":
                await asyncio.sleep(random.uniform(spec.jitter_min, spec.jitter_max))
            event_id = headers.get("webhook-id", "")
            state.accepted[event_id] = state.accepted.get(event_id, 0) + 1
            state.first_ok_at.setdefault(event_id, arrived)
            return 200
        finally:
            self.in_flight -= 1

    async def serve_uvicorn(self, sockets: list[socket.socket]) -> Any:
        """The same endpoints behind uvicorn + Starlette (a heavier, common receiver)."""
        import uvicorn
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def hook(request: Request) -> Response:
            port = request.scope["server"][1]
            status = await self.respond(port, dict(request.headers), await request.body())
            return Response(status_code=status)

        app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", access_log=False, backlog=512
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=sockets))
        while not server.started:
            await asyncio.sleep(0.01)
        return server, task

    async def main(self) -> None:
        sockets = []
        for _ in range(self.count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, 0))
            sock.listen(512)
            sock.setblocking(False)
            sockets.append(sock)
        ports = [s.getsockname()[1] for s in sockets]
        if self.server == "uvicorn":
            uvicorn_server, uvicorn_task = await self.serve_uvicorn(sockets)
            servers = []
        else:
            servers = [await asyncio.start_server(self.handle, sock=s) for s in sockets]
        self.conn.send(ports)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        parent = os.getppid()

        async def on_message(message: tuple[Any, ...]) -> Any:
            command = message[0]
            if command == "configure":
                for port, spec in message[1].items():
                    self.endpoints[port] = EndpointState(spec=spec)
                return "ok"
            if command == "stats":
                return self.snapshot()
            stop.set()
            return "bye"

        def control() -> None:
            # Blocking pipe reads on a thread; the state is only touched on the loop.
            while not stop.is_set():
                try:
                    message = self.conn.recv()
                except (EOFError, OSError):
                    loop.call_soon_threadsafe(stop.set)
                    return
                reply = asyncio.run_coroutine_threadsafe(on_message(message), loop).result()
                self.conn.send(reply)

        threading.Thread(target=control, daemon=True).start()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if os.getppid() != parent:  # the benchmark died: do not linger
                break
        for server in servers:
            server.close()
        if self.server == "uvicorn":
            uvicorn_server.should_exit = True
            await uvicorn_task

    def snapshot(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "endpoints": {
                port: {
                    "kind": s.spec.kind,
                    "requests": s.requests,
                    "invalid": s.invalid,
                    "accepted": dict(s.accepted),
                    "first_ok_at": dict(s.first_ok_at),
                }
                for port, s in self.endpoints.items()
            },
        }


def _child(conn: Connection, count: int, server: str) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(ReceiverProcess(conn, count, server).main())
        return
    uvloop.run(ReceiverProcess(conn, count, server).main())


class Receivers:
    """Parent-side handle: start, configure, read stats, stop."""

    def __init__(self, count: int, server: str = "asyncio") -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=_child, args=(child_conn, count, server), daemon=True)
        self.process.start()
        if not self.conn.poll(60):
            raise RuntimeError("receivers did not start")
        self.ports: list[int] = self.conn.recv()

    def configure(self, specs: dict[int, EndpointSpec]) -> None:
        self.conn.send(("configure", specs))
        assert self.conn.recv() == "ok"

    def stats(self) -> dict[str, Any]:
        self.conn.send(("stats",))
        result: dict[str, Any] = self.conn.recv()
        return result

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.send(("stop",))
            self.conn.recv()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


def url(port: int) -> str:
    return f"http://{HOST}:{port}/hook"
