"""Dead letters: events a handler failed on EVENT_MAX_ATTEMPTS times (shop.redelivery).

    python -m shop.deadletters list <service>            # what is there, and why
    python -m shop.deadletters replay <service> [--limit N]  # after the fix: handle again

Both read AMQP_URI from the config (`--config`, config.yml by default). Listing leaves
the letters where they are; replaying sends each back to the queue of the handler that
failed on it, with its attempt count reset, and takes it off the dead-letter queue once
the broker has it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import amqp
from kombu.connection import Connection

from shop.amqp import PERSISTENT
from shop.config import load_config
from shop.redelivery import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    QUEUE_HEADER,
    TRIES_HEADER,
    dead_letter_queue,
)


@contextmanager
def connection_to(amqp_uri: str, timeout: float | None = None) -> Iterator[amqp.Connection]:
    with Connection(amqp_uri, connect_timeout=timeout) as connection:
        connection.connect()
        yield connection.connection


@contextmanager
def channel_of(connection: amqp.Connection) -> Iterator[amqp.Channel]:
    channel = connection.channel()
    try:
        yield channel
    finally:
        if channel.is_open:
            channel.close()  # what was got and not acked goes back, in order


def waiting(connection: amqp.Connection, service: str) -> int:
    """How many letters the service's dead-letter queue holds (0 if it has none yet)."""
    with channel_of(connection) as channel:  # a failed passive declare closes its channel
        try:
            _, count, _ = channel.queue_declare(dead_letter_queue(service), passive=True)
        except amqp.exceptions.NotFound:
            return 0
    return int(count)


def waiting_by_service(amqp_uri: str, services: list[str],
                       timeout: float | None = None) -> dict[str, int]:
    with connection_to(amqp_uri, timeout) as connection:
        return {service: waiting(connection, service) for service in services}


def describe(message: amqp.Message) -> dict[str, Any]:
    headers = message.headers or {}
    body = message.body.decode(errors="replace") if isinstance(message.body, bytes) \
        else message.body
    return {"queue": headers.get(QUEUE_HEADER), "attempts": headers.get(ATTEMPTS_HEADER),
            "error": headers.get(ERROR_HEADER), "body": body}


def list_letters(amqp_uri: str, service: str) -> list[dict[str, Any]]:
    """Every dead letter of the service, oldest first, left in place."""
    with connection_to(amqp_uri) as connection, channel_of(connection) as channel:
        letters = []
        for _ in range(waiting(connection, service)):
            message = channel.basic_get(dead_letter_queue(service), no_ack=False)
            if message is None:
                break
            letters.append(describe(message))
        return letters


def replay(amqp_uri: str, service: str, limit: int | None = None) -> int:
    """Sends dead letters back to their handlers' queues; returns how many."""
    replayed = 0
    with connection_to(amqp_uri) as connection, channel_of(connection) as channel:
        channel.confirm_select()  # each publish below returns once the broker has it
        count = waiting(connection, service)
        for _ in range(count if limit is None else min(count, limit)):
            message = channel.basic_get(dead_letter_queue(service), no_ack=False)
            if message is None:
                break
            headers = {key: value for key, value in (message.headers or {}).items()
                       if key not in (ATTEMPTS_HEADER, TRIES_HEADER, ERROR_HEADER,
                                      QUEUE_HEADER)}
            channel.basic_publish(amqp.Message(
                message.body, content_type=message.properties.get("content_type"),
                content_encoding=message.properties.get("content_encoding"),
                delivery_mode=PERSISTENT, application_headers=headers),
                exchange="", routing_key=(message.headers or {})[QUEUE_HEADER])
            channel.basic_ack(message.delivery_tag)
            replayed += 1
    return replayed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m shop.deadletters", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("list", "replay"))
    parser.add_argument("service")
    parser.add_argument("--limit", type=int, default=None, help="replay at most this many")
    parser.add_argument("--config", default="config.yml")
    args = parser.parse_args(argv)
    amqp_uri = str(load_config(args.config)["AMQP_URI"])
    if args.command == "list":
        for letter in list_letters(amqp_uri, args.service):
            print(json.dumps(letter))
        return 0
    print(f"replayed {replay(amqp_uri, args.service, args.limit)} dead letters")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
