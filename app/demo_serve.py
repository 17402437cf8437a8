"""The demo's environment and its running service (`hazewarn demo --serve`).

Environment. The demo writes ``hazewarn-demo.env`` in the folder it runs in (the settings
read it after ``.env``, see `app.config.env_files`): its database, the replay clock's
offset, its model, its port and the permission to deliver webhooks to loopback. Every
hazewarn command run in that folder (the CLI, ``hazewarn serve``, ``hazewarn scheduler``)
then shares the demo's database and clock: ``hazewarn warnings list --active`` agrees
with the dashboard, and the scheduler finds the demo model. A file there the demo did not
write is never overwritten; ``.env`` (compose's credentials, for example) is left alone.

Service. One uvicorn server on ``--port`` serves the API, the dashboard and, under
``/demo/receiver``, a local webhook receiver (`app.subscriptions.receiver`) that verifies
every request's Standard Webhooks signature. The demo subscribes it as the duty desk's
endpoint and runs the outbox dispatcher beside the server, so the warnings the demo
proposes (and every decision taken on the dashboard) are really delivered, signed, and
show in the subscription's deliveries; each start also sends the endpoint a ping.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

__all__ = [
    "ENV_MARKER",
    "RECEIVER_MOUNT",
    "RECEIVER_NAME",
    "SUBSCRIPTION_DESCRIPTION",
    "DemoEnvironment",
    "check_env_file",
    "ensure_receiver_subscription",
    "read_env_offset",
    "receiver_url",
    "serve_demo",
    "write_env_file",
]

#: First line of the environment file the demo writes: a file without it is not the demo's.
ENV_MARKER = "# Written by `hazewarn demo`"
RECEIVER_MOUNT = "/demo/receiver"
RECEIVER_NAME = "duty-desk"
SUBSCRIPTION_DESCRIPTION = "hazewarn demo: local receiver (verifies signatures)"


class DemoEnvironment:
    """What the demo's environment file holds."""

    def __init__(
        self,
        *,
        database_url: str,
        clock_offset_seconds: float,
        model_path: Path,
        port: int,
    ) -> None:
        self.database_url = database_url
        self.clock_offset_seconds = clock_offset_seconds
        self.model_path = model_path
        self.port = port

    def lines(self) -> list[str]:
        base = f"http://127.0.0.1:{self.port}"
        return [
            ENV_MARKER + ": the demo's environment. Every hazewarn command run in this",
            "# folder reads it (database, replay clock, model). Delete it to leave the demo.",
            f"HAZEWARN_DATABASE_URL={self.database_url}",
            f"HAZEWARN_CLOCK_OFFSET_SECONDS={self.clock_offset_seconds!r}",
            f"HAZEWARN_MODEL_PATH={self.model_path}",
            f"HAZEWARN_PORT={self.port}",
            f"HAZEWARN_PUBLIC_BASE_URL={base}",
            "# The demo's receiver listens on loopback, which production refuses (SSRF).",
            "HAZEWARN_ALLOW_PRIVATE_WEBHOOKS=true",
        ]


def check_env_file(path: Path | None) -> None:
    """Raise `ValueError` when ``path`` holds a file the demo did not write."""
    if path is None or not path.exists():
        return
    if path.is_dir() or not path.read_text(encoding="utf-8", errors="replace").startswith(
        ENV_MARKER
    ):
        raise ValueError(
            f"{path} exists and was not written by the demo; move it away or run the demo "
            "in another folder (it writes its settings there)"
        )


def read_env_offset(path: Path | None) -> float | None:
    """The clock offset of the demo's environment file at ``path``, or None without one."""
    if path is None or not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.startswith(ENV_MARKER):
        return None
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == "HAZEWARN_CLOCK_OFFSET_SECONDS":
            try:
                return float(value)
            except ValueError:
                return None
    return None


def write_env_file(path: Path, environment: DemoEnvironment) -> None:
    """Write the demo's environment file atomically (a reader never sees half a file)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("\n".join(environment.lines()) + "\n", encoding="utf-8")
    temporary.replace(path)


def receiver_url(port: int) -> str:
    return f"http://127.0.0.1:{port}{RECEIVER_MOUNT}/hook/{RECEIVER_NAME}"


def ensure_receiver_subscription(
    session: Session, *, port: int, owner_key_id: int | None, now: datetime
) -> int:
    """The demo's subscription to its local receiver: created on the first run (owned by the
    demo's duty officer, so staff events such as proposals reach it), its URL kept on the
    demo's current port. Returns its id. Flushes, does not commit."""
    from app.auth.models import ApiKey
    from app.auth.service import principal_of
    from app.subscriptions.models import Subscription
    from app.subscriptions.service import Filters, create_subscription

    url = receiver_url(port)
    row = session.scalars(
        select(Subscription)
        .where(Subscription.description == SUBSCRIPTION_DESCRIPTION)
        .order_by(Subscription.id)
        .limit(1)
    ).first()
    if row is not None:
        if row.url != url:
            row.url = url
            row.updated_at = now
            session.flush()
        return row.id
    owner = session.get(ApiKey, owner_key_id) if owner_key_id is not None else None
    if owner is None:
        raise ValueError("the demo's duty-officer key is missing")
    created = create_subscription(
        session,
        principal_of(owner),
        url=url,
        description=SUBSCRIPTION_DESCRIPTION,
        filters=Filters(cities=[], levels=[], event_types=[]),
        now=now,
    )
    return created.row.id


def serve_demo(host: str, port: int, subscription_id: int) -> None:
    """Serve the API, the dashboard and the receiver on ``host:port`` with the dispatcher
    running beside them, until interrupted. Sends the receiver a ping first."""
    import uvicorn

    from app.database import session_scope
    from app.main import create_app
    from app.outbox.service import enqueue_ping
    from app.scheduler import DispatcherThread
    from app.subscriptions.models import Subscription
    from app.subscriptions.receiver import Receiver, receiver_app
    from app.subscriptions.service import signing_secrets
    from app.timestamps import utcnow

    receiver = Receiver(base_url=f"http://127.0.0.1:{port}{RECEIVER_MOUNT}")
    with session_scope() as session:
        subscription = session.get(Subscription, subscription_id)
        assert subscription is not None
        secrets = [s.secret for s in signing_secrets(session, subscription_id, utcnow())]
        endpoint = receiver.add(RECEIVER_NAME, secrets[0])
        endpoint.secrets = secrets
        enqueue_ping(session, subscription, utcnow())
    app = create_app()
    app.mount(RECEIVER_MOUNT, receiver_app(receiver))
    dispatcher = DispatcherThread()
    dispatcher.start()
    try:
        uvicorn.run(app, host=host, port=port)
    finally:
        dispatcher.stop()
