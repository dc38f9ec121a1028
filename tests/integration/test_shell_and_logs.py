"""The other ways in: `nameko shell`-style RPC calls, and request ids in the services' logs."""

import logging

import eventlet
import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from shop.context import RequestIdFilter
from shop.errors import Conflict, Forbidden, NotFound


def test_a_shell_user_creates_and_reads_users_over_rpc(system, config):
    with ClusterRpcProxy(config) as n:
        user = n.users.create_user({"name": "ada", "email": "ada@example.com",
                                    "password": "correct horse"})
        assert n.users.get_user(user["id"]) == {k: v for k, v in user.items() if k != "email"}
        assert n.users.set_role(user["id"], "admin")["role"] == "admin"
        assert n.users.list_users()["total"] == 1


def test_a_shell_user_gets_typed_errors(system, config):
    with ClusterRpcProxy(config) as n:
        with pytest.raises(NotFound):
            n.users.get_user("5b9b0f52-4b1c-4a59-9a5e-0a8e54d7a0c1")
        user = n.users.create_user({"name": "ada", "email": "ada@example.com",
                                    "password": "correct horse"})
        with pytest.raises(Conflict) as conflict:
            n.users.create_user({"name": "ADA", "email": "x@example.com",
                                 "password": "correct horse"})
        assert conflict.value.details == {"name": ["This name is taken."]}
        with pytest.raises(Forbidden):
            n.users.delete_user(user["id"], actor=None)


def test_the_request_id_reaches_the_users_services_log(api, caplog):
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO)
    api.sign_up()
    api.http.post("/signin", json={"email": "ada@example.com", "password": "correct horse"},
                  headers={"X-Request-ID": "trace-signin-7"})
    # The service logs a call's outcome just after it has replied: give it a moment.
    for _ in range(100):
        users_lines = [record for record in caplog.records
                       if record.getMessage().startswith("users.sign_in")]
        if users_lines:
            break
        eventlet.sleep(0.02)
    assert users_lines, "the users service logged nothing for the sign-in"
    assert {record.request_id for record in users_lines} == {"trace-signin-7"}
