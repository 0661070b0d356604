"""datacat's Python client: sessions, deep-merged state, events and metrics over HTTP.

``from datacat import create_session`` (or ``from datacat_client import ...``) — the sync
face (``DatacatClient``, ``Session``) and the async face (``AsyncDatacatClient``,
``AsyncSession``) share one request core; ``Session`` batches writes in the background and
never raises into the application. See docs/client.md.
"""

from datacat_client._async_session import AsyncSession
from datacat_client._client import AsyncDatacatClient, DatacatClient
from datacat_client._exceptions import (
    APIError,
    ConnectError,
    DatacatError,
    DeliveryError,
    Forbidden,
    InvalidData,
    NotFound,
    PayloadTooLarge,
    ServerError,
    Timeout,
    TransportError,
    Unauthorized,
    Unprocessable,
)
from datacat_client._heartbeat import AsyncHeartbeatMonitor, HeartbeatMonitor
from datacat_client._logging import DatacatHandler
from datacat_client._payloads import exception_data
from datacat_client._session import Session, create_session
from datacat_client._types import BatchConfig

__all__ = [
    "APIError",
    "AsyncDatacatClient",
    "AsyncHeartbeatMonitor",
    "AsyncSession",
    "BatchConfig",
    "ConnectError",
    "DatacatClient",
    "DatacatError",
    "DatacatHandler",
    "DeliveryError",
    "Forbidden",
    "HeartbeatMonitor",
    "InvalidData",
    "NotFound",
    "PayloadTooLarge",
    "ServerError",
    "Session",
    "Timeout",
    "TransportError",
    "Unauthorized",
    "Unprocessable",
    "create_session",
    "exception_data",
]
