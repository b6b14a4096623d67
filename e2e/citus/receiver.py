#!/usr/bin/env python3
"""A stream destination on loopback for e2e/citus/run: answers 200 to every POST and appends one
line per delivered event to OUT as `path<TAB>tenant<TAB>id` (webhook, splunk_hec and datadog
bodies all understood).
    usage: receiver.py PORT OUT"""
import http.server
import json
import sys
import threading

port, out = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()


def events(path, body):
    text = body.decode()
    if path.startswith("/splunk"):
        # HEC: concatenated JSON objects, one per event
        decoder, at, found = json.JSONDecoder(), 0, []
        while at < len(text):
            while at < len(text) and text[at].isspace():
                at += 1
            if at >= len(text):
                break
            item, at = decoder.raw_decode(text, at)
            found.append(item["event"])
        return found
    data = json.loads(text)
    if isinstance(data, list):  # datadog: the event under "audit"
        return [item["audit"] for item in data]
    return data["events"]  # webhook


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        lines = [f"{self.path}\t{event.get('tenant')}\t{event.get('id')}\n" for event in events(self.path, body)]
        with lock, open(out, "a") as f:
            f.writelines(lines)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
