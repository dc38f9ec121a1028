"""`make bench`: starts its own stack, seeds data, and drives every scenario with wrk.

    python -m bench.run                       # the full run (about 3 minutes)
    python -m bench.run --smoke               # seconds, tiny data (part of make test)

Two baselines run beside the system on the same broker: `hello` (a bare @http endpoint)
and `plain_rpc` (a bare @http endpoint making one call through Nameko's stock RpcProxy).
Every figure is also given as a ratio to them, measured in the same run. Results go to
bench/results/ as JSON and Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import seed
from devstack.processes import ROOT, ManagedProcess, nameko_run
from devstack.servers import Settings, Stack, StackError
from shop.roster import BACKENDS, GATEWAY, entry

RESULTS = ROOT / "bench" / "results"
BASELINES = frozenset(("hello", "plain_rpc"))
NO_LIMITS = {"RATE_LIMIT_MAX": "1000000000", "SIGNIN_RATE_LIMIT_MAX": "1000000000"}


@dataclass
class Measurement:
    scenario: str
    connections: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def to_ms(text: str) -> float:
    value, unit = must_find(re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def run_wrk(name: str, url: str, connections: int, seconds: float,
            script: str | None = None) -> Measurement:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{max(int(seconds), 1)}s", "--latency",
            "--timeout", "10s"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script or "")
    if script:
        argv += ["-s", lua.name]
    output = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    os.unlink(lua.name)
    latency = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", output, re.MULTILINE))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return Measurement(
        name, connections,
        float(must_find(re.search(r"Requests/sec:\s+([\d.]+)", output)).group(1)),
        to_ms(latency["50"]), to_ms(latency["99"]), errors,
        int(must_find(re.search(r"(\d+) requests in", output)).group(1)))


def must_find(match: re.Match[str] | None) -> re.Match[str]:
    if match is None:
        raise ValueError("wrk's output is not in the format this bench reads")
    return match


def post_script(body: dict, headers: dict | None = None) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(body))}",
             'wrk.headers["Content-Type"] = "application/json"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items()]
    return "\n".join(lines) + "\n"


def orders_script(token: str, product_ids: list[str]) -> str:
    """Each request orders one unit of the next product: distinct rows, no hot spot."""
    ids = ", ".join(f'"{pid}"' for pid in product_ids)
    address = '{"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}'
    return f"""
local ids = {{{ids}}}
local n = math.random(#ids)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
request = function()
  n = n % #ids + 1
  local body = '{{"items": [{{"product_id": "' .. ids[n] .. '", "quantity": 1}}], ' ..
               '"shipping_address": {address}}}'
  return wrk.format(nil, "/orders", nil, body)
end
"""


def with_children(pid: int) -> list[int]:
    """A process and its children (a gateway launcher's processes)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *map(int, children)]


class RssSampler(threading.Thread):
    """Keeps the peak resident memory of each process it watches (of the largest of a
    launcher and its children)."""

    def __init__(self, processes: dict[str, int]):
        super().__init__(daemon=True)
        self.processes = processes
        self.peak_mb = {name: 0.0 for name in processes}
        self.running = True

    def run(self) -> None:
        while self.running:
            for name, pid in self.processes.items():
                for each in with_children(pid):
                    try:
                        status = Path(f"/proc/{each}/status").read_text()
                    except OSError:
                        continue
                    rss = re.search(r"VmRSS:\s+(\d+)", status)  # absent once it exits
                    if rss:
                        self.peak_mb[name] = max(self.peak_mb[name], int(rss.group(1)) / 1024)
            time.sleep(0.25)


class Bench:
    def __init__(self, smoke: bool, only: frozenset[str] = frozenset(), hold: bool = False,
                 tracing: bool = False):
        self.smoke = smoke
        self.tracing = tracing  # the shop's processes trace every request (to a sink)
        self.hold = hold
        self.only = only  # scenario names to run besides the baselines; empty: all
        self.seconds = 1 if smoke else 10
        self.warmup = 0 if smoke else 3
        self.run_dir = ROOT / ".run" / "bench"
        self.stack = Stack(Settings.from_env({**os.environ, "RUN_DIR": str(self.run_dir)}))
        self.processes: dict[str, ManagedProcess] = {}

    def start(self, name: str, target: str, **env) -> ManagedProcess:
        return self.launch(name, nameko_run(target), **env)

    def launch(self, name: str, argv: list[str], **env) -> ManagedProcess:
        process = self.stack.start_process(ManagedProcess(
            name, argv, self.stack.settings.run_dir, env={**self.env, **env}, is_service=True))
        self.processes[name] = process
        return process

    def wait_for(self, url: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=3) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise StackError(f"{url} did not answer; see {self.run_dir}/logs")

    def measure(self, name: str, url: str, connections: int = 50, script: str | None = None):
        if self.only and name not in self.only | BASELINES:
            return None
        if self.warmup:
            run_wrk(name, url, connections, self.warmup, script)
        result = run_wrk(name, url, connections, self.seconds, script)
        print(f"  {name:<26} {result.requests_per_second:9.1f} req/s  p50 {result.p50_ms:7.1f} ms"
              f"  p99 {result.p99_ms:7.1f} ms  errors {result.errors}")
        return result

    def run(self) -> dict:
        settings = self.stack.settings
        databases = {name: f"bench_{name}" for name in BACKENDS}
        # Fresh: the queues of an earlier run may be of another type (QUEUE_TYPE).
        self.stack.ensure_rabbitmq(need_management=False, fresh=True)
        self.stack.ensure_redis()
        self.stack.ensure_postgres(list(databases.values()))
        uris = {f"{name}:Base": settings.postgres_uri(db) for name, db in databases.items()}
        self.env = {**self.stack.service_env(), "DB_URIS": json.dumps(uris),
                    "JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex, "LOG_LEVEL": "WARNING",
                    "PYTHONWARNINGS": "ignore::DeprecationWarning", **NO_LIMITS}
        subprocess.run([sys.executable, "-m", "shop.migrate"], cwd=ROOT, check=True,
                       env={**os.environ, **self.env}, stdout=subprocess.DEVNULL)
        data = seed.seed(uris, small=self.smoke)
        if self.tracing:
            self.start_trace_sink()
        ports = {name: free_port()
                 for name in ("gateway", "nocache", "gateway2", "nocache2", "hello", "plain")}
        for service in BACKENDS:
            self.start(service, entry(service))
        address = lambda name: f"127.0.0.1:{ports[name]}"  # noqa: E731
        self.start("gateway", entry(GATEWAY), WEB_SERVER_ADDRESS=address("gateway"))
        self.start("gateway-nocache", entry(GATEWAY), WEB_SERVER_ADDRESS=address("nocache"),
                   CACHE_ENABLED="false")
        two = [sys.executable, "-m", "gateway.processes", "--config", "config.yml"]
        self.launch("gateway-2proc", two, GATEWAY_PROCESSES="2",
                    WEB_SERVER_ADDRESS=address("gateway2"))
        self.launch("gateway-nocache-2proc", two, GATEWAY_PROCESSES="2",
                    WEB_SERVER_ADDRESS=address("nocache2"), CACHE_ENABLED="false")
        self.start("hello", "bench.baselines:HelloService", WEB_SERVER_ADDRESS=address("hello"))
        self.start("constant", "bench.baselines:ConstantService")
        self.start("plain", "bench.baselines:PlainRpcService", WEB_SERVER_ADDRESS=address("plain"))
        url = {name: f"http://{address(name)}" for name in ports}
        self.wait_for(f"{url['gateway']}/health/services")
        self.wait_for(f"{url['nocache']}/health")
        self.wait_for(f"{url['gateway2']}/health")
        self.wait_for(f"{url['nocache2']}/health")
        self.wait_for(f"{url['hello']}/hello")
        self.wait_for(f"{url['plain']}/plain")
        token = seed.sign_in(url["gateway"], data)
        if self.hold:
            return self.wait_for_interrupt(url, token, data)
        sampler = RssSampler({name: p.pid for name, p in self.processes.items()})
        sampler.start()
        post_url = f"/posts/{data['post_ids'][0]}"
        signin = post_script({"email": data["email"], "password": data["password"]})
        print("==> measuring")
        results = [
            self.measure("hello", f"{url['hello']}/hello"),
            self.measure("plain_rpc", f"{url['plain']}/plain"),
            self.measure("health", f"{url['gateway']}/health"),
            self.measure("post_cache_hit", url["gateway"] + post_url),
            self.measure("post_cache_off", url["nocache"] + post_url),
            # The same two through GATEWAY_PROCESSES=2 (not judged: the baselines are one
            # process each).
            self.measure("post_cache_hit_2proc", url["gateway2"] + post_url),
            self.measure("post_cache_off_2proc", url["nocache2"] + post_url),
            self.measure("products_filtered", url["gateway"]
                         + "/products?category=home&in_stock=true&max_price=500&sort=price"),
            self.measure("orders", f"{url['gateway']}/orders",
                         script=orders_script(token, data["product_ids"])),
            self.measure("signin", f"{url['gateway']}/signin", connections=4, script=signin),
            self.measure("readers_alone_46", url["gateway"] + post_url, connections=46),
        ]
        results.append(self.mixed(url["gateway"] + post_url, f"{url['gateway']}/signin", signin))
        results = [result for result in results if result is not None]
        sampler.running = False
        return self.report(results, sampler.peak_mb)

    def start_trace_sink(self) -> None:
        """Every shop process started after this exports its spans to bench.otlp_sink."""
        port = free_port()
        self.span_count = self.run_dir / "spans-received"
        self.span_count.unlink(missing_ok=True)
        self.launch("otlp-sink", [sys.executable, "-m", "bench.otlp_sink", str(port),
                                  str(self.span_count)])
        self.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"

    def spans_received(self) -> int | None:
        if not self.tracing or not self.span_count.exists():
            return None
        return int(self.span_count.read_text() or 0)

    def wait_for_interrupt(self, url: dict, token: str, data: dict) -> dict:
        """--hold: the seeded stack stays up for profiling by hand until Ctrl-C."""
        (self.run_dir / "token").write_text(token)
        print("==> holding; Ctrl-C stops everything")
        for name, address in url.items():
            print(f"  {name:<8} {address}")
        print(f"  a post:    /posts/{data['post_ids'][0]}")
        print(f"  a token:   {self.run_dir / 'token'}")
        print(f"  PIDs:      {self.run_dir / 'pids'}")
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return {"targets": {"zero errors": {"met": True}}}

    def mixed(self, read_url: str, signin_url: str, signin: str) -> Measurement | None:
        """46 readers while 4 clients sign in without pause; the readers' figures."""
        if self.only and "readers_with_signins_46" not in self.only:
            return None
        signing = threading.Thread(target=run_wrk, args=(
            "signin_background", signin_url, 4, self.seconds + self.warmup + 1, signin))
        signing.start()
        result = self.measure("readers_with_signins_46", read_url, connections=46)
        signing.join()
        return result

    def report(self, results: list[Measurement], peak_mb: dict) -> dict:
        by_name = {result.scenario: result for result in results}
        hello, plain = by_name["hello"], by_name["plain_rpc"]
        if self.only:  # a partial run: no target is judged on it
            return self.write(results, peak_mb, hello, plain, {
                "zero errors": {"met": all(result.errors == 0 for result in results)}})
        targets = judge(by_name, peak_mb)
        return self.write(results, peak_mb, hello, plain, targets)

    def write(self, results, peak_mb, hello, plain, targets) -> dict:
        report = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "system": platform.platform()},
            "seconds_per_run": self.seconds, "smoke": self.smoke, "partial": bool(self.only),
            "results": [{**asdict(result),
                         "x_hello": round(result.requests_per_second
                                          / hello.requests_per_second, 3),
                         "x_plain_rpc": round(result.requests_per_second
                                              / plain.requests_per_second, 3)}
                        for result in results],
            "peak_rss_mb": {name: round(mb, 1) for name, mb in peak_mb.items()},
            "targets": targets,
            "tracing": self.tracing, "spans_received": self.spans_received(),
        }
        write_results(report)
        return report

    def stop(self) -> None:
        self.stack.stop()


# The targets of the message-path issue: (name, scenario, measure, baseline, factor); a
# throughput must reach factor x the baseline's, a p99 stay within factor x the baseline's.
TARGETS = (
    ("post_cache_off >= 2 x plain_rpc", "post_cache_off", "rps", "plain_rpc", 2.0),
    ("post_cache_off p99 <= 0.5 x plain_rpc p99", "post_cache_off", "p99", "plain_rpc", 0.5),
    ("orders >= 0.5 x plain_rpc", "orders", "rps", "plain_rpc", 0.5),
    ("post_cache_hit >= 0.8 x hello", "post_cache_hit", "rps", "hello", 0.8),
    ("products_filtered >= 3 x plain_rpc", "products_filtered", "rps", "plain_rpc", 3.0),
    ("readers' p99 with sign-ins <= 2 x alone", "readers_with_signins_46", "p99",
     "readers_alone_46", 2.0),
)
MAX_RSS_MB = 150


def judge(by_name: dict[str, Measurement], peak_mb: dict) -> dict:
    """Each target: met or not, with the ratio measured (for the short-by column)."""
    targets = {}
    for name, scenario, measure, baseline, factor in TARGETS:
        got, base = by_name[scenario], by_name[baseline]
        if measure == "rps":
            ratio = got.requests_per_second / base.requests_per_second
            targets[name] = {"met": ratio >= factor, "ratio": round(ratio, 2)}
        else:
            ratio = got.p99_ms / base.p99_ms
            targets[name] = {"met": ratio <= factor, "ratio": round(ratio, 2)}
    targets["zero errors"] = {"met": all(r.errors == 0 for r in by_name.values())}
    targets[f"every process <= {MAX_RSS_MB} MB RSS"] = {
        "met": max(peak_mb.values()) <= MAX_RSS_MB}
    return targets


def markdown(report: dict) -> str:
    lines = ["| scenario | conns | req/s | × hello | × plain_rpc | p50 ms | p99 ms | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        lines.append(f"| {r['scenario']} | {r['connections']} | {r['requests_per_second']:.0f} "
                     f"| {r['x_hello']:.2f} | {r['x_plain_rpc']:.2f} | {r['p50_ms']:.1f} "
                     f"| {r['p99_ms']:.1f} | {r['errors']} |")
    lines += ["", "| process | peak RSS MB |", "|---|---|"]
    lines += [f"| {name} | {mb} |" for name, mb in sorted(report["peak_rss_mb"].items())]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {measured(target)} | {'yes' if target['met'] else '**no**'} |"
              for name, target in report["targets"].items()]
    if report.get("tracing"):
        lines += ["", f"Tracing on: {report['spans_received']} spans received by the sink."]
    return "\n".join(lines) + "\n"


def measured(target: dict) -> str:
    return f"{target['ratio']:.2f} x" if "ratio" in target else ""


def write_results(report: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "smoke" if report["smoke"] else "partial" if report["partial"] else "latest"
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (RESULTS / f"{stem}.md").write_text(markdown(report))
    print(markdown(report))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="seconds, tiny data")
    parser.add_argument("--only", default="",
                        help="comma-separated scenarios to run besides the baselines")
    parser.add_argument("--tracing", action="store_true",
                        help="the shop's processes trace every request, exporting over OTLP "
                             "to a local sink (the cost of tracing)")
    parser.add_argument("--hold", action="store_true",
                        help="start and seed everything, then wait (for profiling by hand)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install wrk (make bench installs it)", file=sys.stderr)
        return 1
    bench = Bench(args.smoke, frozenset(filter(None, args.only.split(","))), args.hold,
                  args.tracing)
    try:
        report = bench.run()
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        bench.stop()
    return 0 if report["targets"]["zero errors"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
