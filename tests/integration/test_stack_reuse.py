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


def test_a_redis_left_by_an_interrupted_run_is_stopped_by_the_next(tmp_path):
    """Redis rewrites its command line, so its environment must say whose it is."""
    from nameko.testing.utils import find_free_port

    from devstack.processes import stop_leftover

    local = stack.Stack(stack.Settings.from_env({
        "RUN_DIR": str(tmp_path), "REDIS_PORT": str(find_free_port())}))
    local.ensure_redis()
    (redis,) = local.started
    try:
        stop_leftover("redis", local.settings.run_dir)  # as the next run does first
        assert redis.wait(10) is not None and not redis.running()
    finally:
        redis.kill()
