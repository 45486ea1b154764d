"""What every signaling message is built on (:mod:`visitt.live.protocol`, :mod:`visitt.live.protocol_sfu`):
the base of each direction and the ids messages carry."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

ROOM_ID = Annotated[str, Field(min_length=1, max_length=64)]
PEER_ID = Annotated[str, Field(min_length=1, max_length=64)]


class ClientModel(BaseModel):
    """A message from the browser, or a value in one. Unknown fields are dropped, so a client cannot
    smuggle a ``from`` or an identity into a message."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class ServerModel(BaseModel):
    """A message to the browser. ``type`` is fixed per class; :func:`visitt.live.protocol.encode` makes the
    JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")
