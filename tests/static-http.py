#!/usr/bin/env python3
"""An ordinary static file server (Python's own http.server: GET and HEAD per
file, no listing method; PROPFIND is refused with 501) for the http:// source
tests, with one hostile trait: while the file `<root>/.stall` exists, a GET
of a path named in it sends the headers and half the body, then says nothing
more until the client gives up. Each such GET is appended to `<root>/.stalled`
so a test can see that the copy was retried.

usage: static-http.py ROOT PORT
"""
import http.server
import os
import sys
import threading
import time
from functools import partial

ROOT, PORT = sys.argv[1], int(sys.argv[2])
STALL, STALLED = os.path.join(ROOT, ".stall"), os.path.join(ROOT, ".stalled")
lock = threading.Lock()


class Handler(http.server.SimpleHTTPRequestHandler):
    # Directory listings are what a static server without an index refuses.
    def list_directory(self, path):
        self.send_error(404, "no listing")
        return None

    def do_GET(self):
        stalled = []
        if os.path.exists(STALL):
            with open(STALL) as f:
                stalled = [line.strip() for line in f if line.strip()]
        if self.path in stalled:
            with lock, open(STALLED, "a") as f:
                f.write(self.path + "\n")
            body = open(os.path.join(ROOT, self.path.lstrip("/")), "rb").read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            time.sleep(3600)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), partial(Handler, directory=ROOT))
server.daemon_threads = True
print("serving", flush=True)
server.serve_forever()
