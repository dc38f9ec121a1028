"""schemathesis against /openapi.json with every check and every phase (stateful included),
signed in as two users and an admin: no 500, no answer that breaks the document, no valid
request refused, no hang, and no user reading another's orders or notifications.

FUZZ_MAX_EXAMPLES (per operation) and FUZZ_MAX_SECONDS bound the run; `make chaos`
raises both and sets FUZZ_SEED=random. The seed is printed with every run, so that a
finding can be replayed with FUZZ_SEED=<seed>.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from devstack.processes import ROOT
from shop.roster import SERVICES
from tests.system.conftest import sign_up_and_in, wait_for_services

SCHEMATHESIS = str(Path(sys.executable).parent / "st")
FIXED_SEED = "20261121"
PASSWORD = "correct horse"
# Signing in as one of these works for the whole run only if no operation changes their
# password or deletes them: the operations that can get a run of their own, as a user
# with a token (who may end up deleted, or with another password: then it gets 401s).
IDENTITIES = {"ada": False, "bob": False, "grace": True}  # name: admin
ENDS_THE_IDENTITY = ("update_me", "delete_me", "update_user", "delete_user")
# ...with the operations that lead to them (links and ids in answers).
LEADS_THERE = ("create_user", "get_me", "list_users", "get_user")


def test_fuzzing_the_api_as_users_and_an_admin_finds_no_failure(processes, tmp_path):
    start_every_service(processes)
    for name, admin in IDENTITIES.items():
        sign_up_and_in(processes.base_url, name, admin=admin, config=processes.rpc_config)
    # Escalating in this order, schemathesis calls each operation as a user, then
    # anonymous, then the second user, then the admin, keeping the first it is let in as;
    # the two users' objects are probed for reads across them.
    identities = (f'[auth.wfc]\npath = "{wfc_document(tmp_path, processes.base_url)}"\n'
                  'peers = ["ada", "bob"]\n')
    fuzz(processes.base_url, tmp_path,
         *[arg for operation in ENDS_THE_IDENTITY
           for arg in ("--exclude-operation-id", operation)], config=identities)


def test_fuzzing_the_operations_that_end_a_sign_in_finds_no_failure(processes, tmp_path):
    start_every_service(processes)
    auth = sign_up_and_in(processes.base_url, "eve")
    fuzz(processes.base_url, tmp_path, "--header", f"Authorization: {auth['Authorization']}",
         *[arg for operation in ENDS_THE_IDENTITY + LEADS_THERE
           for arg in ("--include-operation-id", operation)], share_of_time=0.25)


def start_every_service(processes) -> None:
    for service in SERVICES:
        processes.start(service)
    wait_for_services(processes.base_url)


def wfc_document(tmp_path: Path, base_url: str) -> Path:
    """A Web Fuzzing Commons auth document: each identity signs in through POST /signin
    (and again whenever a token is refused)."""
    def signing_in(name: str) -> dict:
        return {"name": name, "loginEndpointAuth": {
            "endpoint": "/signin", "verb": "POST", "contentType": "application/json",
            "payloadRaw": json.dumps({"email": f"{name}@example.com", "password": PASSWORD}),
            "token": {"extractFrom": "body", "extractSelector": "/token",
                      "sendIn": "header", "sendName": "Authorization",
                      "sendTemplate": "Bearer {token}"}}}
    path = tmp_path / "identities.json"
    path.write_text(json.dumps({"auth": [signing_in(name) for name in IDENTITIES]}))
    return path




# A valid request may still meet a 422: its Idempotency-Key used with another request.
# tests/system/fuzz_hooks.py gives every drawn write a key of its own, but the coverage
# phase builds its cases without hooks, from a few keys. The rest: schemathesis' defaults.
ACCEPTED = '["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]'


def fuzz(base_url: str, tmp_path: Path, *options: str, config: str = "",
         share_of_time: float = 1) -> None:
    """Runs schemathesis; fails with its findings and the seed that replays them."""
    seed = os.environ.get("FUZZ_SEED", FIXED_SEED)
    if seed == "random":
        seed = str(random.SystemRandom().randrange(2**32))
    print(f"fuzzing with FUZZ_SEED={seed}")
    report = tmp_path / "fuzz.xml"
    # make test's brief run: 30 s in all (the suite's budget is ~15 minutes); make chaos: 300.
    seconds = max(1, round(float(os.environ.get("FUZZ_MAX_SECONDS", "30")) * share_of_time))
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(
        f"{config}[checks.positive_data_acceptance]\nexpected-statuses = {ACCEPTED}\n")
    run = subprocess.run(
        [SCHEMATHESIS, "--config-file", str(config_file), "run", f"{base_url}/openapi.json",
         "--checks", "all",
         "--phases", "examples,coverage,fuzzing,stateful",
         "--max-examples", os.environ.get("FUZZ_MAX_EXAMPLES", "15"),
         "--max-time", str(seconds),
         "--seed", seed,
         # One worker: in two threads, hypothesis's ast.parse can trip CPython 3.11's
         # thread-unsafe recursion check (SystemError) with no fault in the API.
         "--request-timeout", "10", "--workers", "1", "--no-color",
         "--generation-database", "none",
         "--exclude-path-regex", "^/docs",
         "--report", "junit", "--report-junit-path", str(report), *options],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.system.fuzz_hooks",
             "PYTHONPATH": str(ROOT)})
    print(run.stdout[-3000:])
    assert run.returncode == 0, f"FUZZ_SEED={seed}\n{findings(run.stdout)}{run.stderr[-2000:]}"
    assert "testcase" in report.read_text()  # it ran: a report with test cases was written


def findings(output: str) -> str:
    """schemathesis' failures and errors, then its summary (the middle may be long)."""
    start = min([output.find(title) for title in (" FAILURES ", " ERRORS ")
                 if title in output] or [0])
    found = output[start:]
    if len(found) > 12000:
        found = found[:9000] + "\n[...]\n" + found[-3000:]
    return found
