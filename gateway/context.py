"""What every resolver of one request can reach."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader

from shopwindow.mongo import MongoDocument


@dataclass
class GatewayContext:
    """Per-request state: the loaders and who is asking.

    Attributes:
        products: Loads visible product documents by id.
        segment: The viewer's customer segment, from a verified token.
        request_id: Names the request in logs and in masked errors.
        loaders: Loaders contributed by extensions, by name.
    """

    products: DataLoader[str, MongoDocument | None]
    segment: str | None = None
    request_id: str = ""
    loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)
    request: Any = None
    response: Any = None


Info = strawberry.Info[GatewayContext, None]
