"""A real HTTP server on 127.0.0.1 that records the JSON bodies POSTed to it (a team's webhook), and the paths
asked for by GET (a web beacon: what a page would fetch, were it to hold an image)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Webhook:
    def __init__(self, status: int = 200, body: bytes = b"") -> None:
        answer = body
        self.received: list[dict] = []
        self.auth: list[str | None] = []
        self.gets: list[str] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                posted = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append(json.loads(posted))
                hook.auth.append(self.headers.get("Authorization"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_GET(self) -> None:
                hook.gets.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/crosswalk"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
