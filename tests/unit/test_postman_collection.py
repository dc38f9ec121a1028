"""The committed Postman collection is the one scripts/postman.py makes from /openapi.json:
every operation called, with statuses the document lists."""

import json
from pathlib import Path

import pytest

from gateway.openapi import openapi_document
from scripts.postman import FLOW, Step, collection, item, operations

COLLECTION = Path(__file__).resolve().parents[2] / "clients" / "nameko-shop.postman_collection.json"


def test_the_committed_collection_is_the_one_the_document_makes():
    assert json.loads(COLLECTION.read_text()) == collection(openapi_document()), (
        "regenerate it: python -m scripts.postman > clients/nameko-shop.postman_collection.json")


def test_every_operation_of_the_document_is_called():
    assert set(operations(openapi_document())) == {step.operation for step in FLOW}


def test_a_new_operation_the_flow_does_not_call_is_drift():
    document = openapi_document()
    document = {**document, "paths": {**document["paths"], "/refunds": {
        "post": {"operationId": "refund", "responses": {"201": {}}}}}}
    with pytest.raises(ValueError, match="refund"):
        collection(document)


def test_a_status_the_document_does_not_list_is_drift():
    with pytest.raises(ValueError, match="418"):
        item(openapi_document(), Step("health", 418))


def test_a_step_asserts_its_status_and_the_keys_its_body_requires():
    made = item(openapi_document(), Step("sign_in", 200, keep={"token": "body.token"}))
    (tests,) = [event["script"]["exec"] for event in made["event"] if event["listen"] == "test"]
    script = "\n".join(tests)
    assert "pm.response.to.have.status(200)" in script
    assert '"token"' in script and 'pm.collectionVariables.set("token", body.token)' in script
