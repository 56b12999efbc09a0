"""Events: the transactional outbox and its delivery as signed webhooks.

A capability emits an event in the transaction of the state change it describes
(`emit`); the dispatcher, a worker job, delivers it to the owner's endpoint at least once,
signed, retrying on a schedule. Receivers drop duplicates by event id and order events
by their per-owner sequence. Other capabilities may deliver events on channels of their
own through the same dispatcher (channels.py).
"""

from zhifu.events.channels import (
    WEBHOOK,
    Channel,
    Claim,
    Outgoing,
    Reply,
    Target,
    webhook_body,
)
from zhifu.events.deliveries import Attempt, Delivery, list_attempts, list_deliveries, resend
from zhifu.events.destinations import PUBLIC_ONLY, Destinations, UnsafeDestination
from zhifu.events.dispatcher import Dispatcher, HttpxSender, Sender
from zhifu.events.endpoints import Endpoint, get_endpoint, set_endpoint
from zhifu.events.outbox import Event, emit, get_event, list_events
from zhifu.events.schedule import MAX_ATTEMPTS, RETRY_DELAYS, DeliveryState
from zhifu.events.signing import InvalidSignature, signature_header, verify_signature

__all__ = [
    "MAX_ATTEMPTS",
    "PUBLIC_ONLY",
    "RETRY_DELAYS",
    "WEBHOOK",
    "Attempt",
    "Channel",
    "Claim",
    "Delivery",
    "DeliveryState",
    "Destinations",
    "Dispatcher",
    "Endpoint",
    "Event",
    "HttpxSender",
    "InvalidSignature",
    "Outgoing",
    "Reply",
    "Sender",
    "Target",
    "UnsafeDestination",
    "emit",
    "get_endpoint",
    "get_event",
    "list_attempts",
    "list_deliveries",
    "list_events",
    "resend",
    "set_endpoint",
    "signature_header",
    "verify_signature",
    "webhook_body",
]
