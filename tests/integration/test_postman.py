"""newman runs the Postman collection against the live stack: every operation, with its
assertions on status and body, from signing up to deleting the account."""

import json
import subprocess
from pathlib import Path

from nameko.standalone.rpc import ClusterRpcProxy

ROOT = Path(__file__).resolve().parents[2]
NEWMAN = ROOT / "clients" / "node_modules" / ".bin" / "newman"
COLLECTION = ROOT / "clients" / "nameko-shop.postman_collection.json"


def test_newman_runs_the_whole_collection_against_the_stack(api, tmp_path):
    assert NEWMAN.exists(), "newman is missing: scripts/bootstrap.sh test installs it"
    admin = api.sign_up("postman-admin")
    with ClusterRpcProxy(api.config) as rpc:
        rpc.users.set_role(admin["id"], "admin")
    report = tmp_path / "newman.json"
    done = subprocess.run(
        [str(NEWMAN), "run", str(COLLECTION), "--bail", "--color", "off",
         "--env-var", f"baseUrl=http://{api.config['WEB_SERVER_ADDRESS']}",
         "--env-var", f"adminEmail={admin['email']}", "--env-var", "adminPassword=correct horse",
         "--reporters", "cli,json", "--reporter-json-export", str(report)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "AssertionError" not in done.stdout
    stats = json.loads(report.read_text())["run"]["stats"]
    made = COLLECTION.read_text()
    assert stats["requests"]["total"] == len(json.loads(made)["item"])
    assert stats["assertions"] == {"total": made.count("pm.test("), "pending": 0, "failed": 0}
