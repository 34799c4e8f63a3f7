#!/usr/bin/env python3
"""Refreshes the checked-in command specification under spec/.

This is the one step that reads a live server; `make meta` (gen_meta.py)
and `make commands` (gen_commands.py) read only what this step wrote.
Two modes:

  refresh_spec.py live [--url redis://127.0.0.1:6379] [SPECDIR]
      Asks the server at --url (default $REDIS_URL) for COMMAND INFO and
      COMMAND DOCS over RESP3 and writes SPECDIR/redis-<version>.json.
      `make meta-refresh` runs it against a throwaway Debian redis-server.

  refresh_spec.py recorded RECORDED_DIR [SPECDIR]
      Extracts, from the recorded replies of ../shared/recorded/replies,
      the COMMAND INFO reply that each module recording got for all of its
      commands, and writes SPECDIR/recorded/<target>.json. Upstream module
      specs carry no key specs or flags; these replies do.

Both write JSON with sorted keys, so a rerun against the same server or
recordings writes the same bytes. Pure Python 3 standard library.
"""

import base64
import json
import os
import socket
import sys
import urllib.parse

# The module recordings whose COMMAND INFO replies are kept, and the
# server recording them (the Debian server's version).
RECORDED_TARGETS = ["redisbloom", "redistimeseries", "redisearch-2.6.20",
                    "valkey-json-1.0.2", "vector-sets"]
RECORDED_SERVER = "redis-7.0.15"


class Resp3:
    """A minimal RESP3 parser over bytes: returns JSON-able values (maps
    become dicts with string keys, sets and pushes become lists)."""

    def __init__(self, data=b"", sock=None):
        self.buf = data
        self.pos = 0
        self.sock = sock

    def _line(self):
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = self.buf[self.pos:end]
                self.pos = end + 2
                return line
            self._more()

    def _bytes(self, n):
        while len(self.buf) - self.pos < n + 2:
            self._more()
        data = self.buf[self.pos:self.pos + n]
        self.pos += n + 2
        return data

    def _more(self):
        if self.sock is None:
            raise ValueError("truncated RESP")
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ValueError("connection closed")
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0

    def value(self):
        line = self._line()
        kind, rest = chr(line[0]), line[1:].decode()
        if kind in "+":
            return rest
        if kind == "-":
            return {"error": rest}
        if kind == ":":
            return int(rest)
        if kind == ",":
            return float(rest)
        if kind == "#":
            return rest == "t"
        if kind == "_":
            return None
        if kind in "$=":
            n = int(rest)
            return None if n < 0 else self._bytes(n).decode()
        if kind in "*~>":
            n = int(rest)
            return None if n < 0 else [self.value() for _ in range(n)]
        if kind == "%":
            out = {}
            for _ in range(int(rest)):
                k = self.value()
                out[str(k)] = self.value()
            return out
        raise ValueError("unknown RESP type %r" % kind)


def command(sock, reader, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)
    return reader.value()


def info_by_name(entries):
    """COMMAND INFO's array of entries as a dict keyed by command name
    (null entries, for unknown names, are dropped)."""
    return {e[0]: e for e in entries if e is not None}


def refresh_live(url, specdir):
    u = urllib.parse.urlparse(url)
    sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379))
    reader = Resp3(sock=sock)
    hello = command(sock, reader, "HELLO", "3")
    version = "%s-%s" % (hello.get("server", "redis"), hello["version"])
    info = info_by_name(command(sock, reader, "COMMAND", "INFO"))
    docs = command(sock, reader, "COMMAND", "DOCS")
    sock.close()
    spec = {"origin": "COMMAND INFO and COMMAND DOCS of %s over RESP3 "
                      "(tools/gen-meta/refresh_spec.py live)" % version,
            "server": version, "info": info, "docs": docs}
    write_json(os.path.join(specdir, "%s.json" % version), spec)


def recorded_info(path):
    """The COMMAND INFO reply, on RESP3 from RECORDED_SERVER, that names
    the most commands in one recording."""
    best = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            argv = o["argv"]
            if (o["resp"] != 3 or o["server_version"] != RECORDED_SERVER
                    or len(argv) < 3 or argv[0].upper() != "COMMAND"
                    or argv[1].upper() != "INFO"):
                continue
            if best is None or len(argv) > len(best["argv"]):
                best = o
    return best


def refresh_recorded(recdir, specdir):
    for target in RECORDED_TARGETS:
        o = recorded_info(os.path.join(recdir, "replies", target + ".jsonl"))
        reply = Resp3(base64.b64decode(o["reply_b64"])).value()
        spec = {"origin": "recorded COMMAND INFO reply (RESP3, %s) of %s.jsonl, "
                          "seq %d, session %s" % (o["server_version"], target,
                                                  o["seq"], o["session"]),
                "server": o["server_version"], "info": info_by_name(reply)}
        write_json(os.path.join(specdir, "recorded", target + ".json"), spec)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    print("wrote", path, file=sys.stderr)


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if len(argv) >= 2 and argv[1] == "live":
        rest = argv[2:]
        url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
        if len(rest) >= 2 and rest[0] == "--url":
            url, rest = rest[1], rest[2:]
        refresh_live(url, rest[0] if rest else os.path.join(root, "spec"))
        return 0
    if len(argv) >= 3 and argv[1] == "recorded":
        refresh_recorded(argv[2], argv[3] if len(argv) > 3 else os.path.join(root, "spec"))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
