"""The sample application the demo deploys: a tiny HTTP server (standard library only).

``GET /`` answers a small JSON document, ``GET /healthz`` answers ``ok``. The port comes from ``--port``
(0 picks a free one); with ``--port-file`` the bound port is written there once the server listens.
"""

import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            body, kind = b"ok\n", "text/plain"
        else:
            payload = {
                "app": "sample-app",
                "release": os.environ.get("RELEASE", ""),
                "image_tag": os.environ.get("IMAGE_TAG", ""),
                "greeting": os.environ.get("GREETING", "hello"),
                "path": self.path,
            }
            body, kind = (json.dumps(payload) + "\n").encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--port-file", type=Path)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    if args.port_file:
        temporary = args.port_file.with_suffix(".tmp")
        temporary.write_text(str(server.server_address[1]))
        temporary.replace(args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
