"""An OTLP/HTTP trace receiver that reads every export and keeps only a count: what
`make bench -- --tracing` sends the shop's spans to, so that the cost measured is the
services' (making, batching, encoding and posting spans), not a collector's.

    python -m bench.otlp_sink PORT COUNT_FILE
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


class Sink(BaseHTTPRequestHandler):
    spans = 0
    count_file: Path

    def do_POST(self) -> None:  # noqa: N802  (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request = ExportTraceServiceRequest.FromString(body)
        Sink.spans += sum(len(scope.spans) for resource in request.resource_spans
                          for scope in resource.scope_spans)
        Sink.count_file.write_text(str(Sink.spans))
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one line per export would drown the bench's own output."""


def main(port: int, count_file: str) -> None:
    Sink.count_file = Path(count_file)
    ThreadingHTTPServer(("127.0.0.1", port), Sink).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
