"""The local stack reuses a RabbitMQ and a Redis already running, and starts nothing."""

import os
from urllib.parse import urlparse

from devstack import servers as stack


def test_a_running_redis_and_rabbitmq_are_reused_not_restarted(tmp_path, request):
    redis_port = urlparse(os.environ.get("REDIS_URI", "redis://127.0.0.1:6379")).port or 6379
    amqp_port = urlparse(request.config.getoption("RABBIT_AMQP_URI")).port
    assert stack.is_redis(redis_port) and stack.is_rabbitmq(amqp_port)
    local = stack.Stack(stack.Settings.from_env({
        "RUN_DIR": str(tmp_path), "REDIS_PORT": str(redis_port), "AMQP_PORT": str(amqp_port)}))
    local.ensure_redis()
    local.ensure_rabbitmq(need_management=True)
    assert local.started == []
