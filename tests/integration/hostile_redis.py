#!/usr/bin/env python3
"""A Redis that answers wrongly, for the tests: hostile_redis.py PORT CONTROL_FILE.

The first line of CONTROL_FILE, read before every answer, is "MODE [TARGET]". TARGET 'late'
(the default) answers the handshake (AUTH, SELECT, CLIENT, CONFIG, SCRIPT LOAD, the claim
script, the read of a committed cursor: there is none) as Redis would and applies MODE to everything else (the commit and fleet scripts,
HGETALL, HGET, HSET, PSUBSCRIBE, PUBLISH, XADD, WAIT); 'all' applies MODE to every command.

Modes: int, nil, nilarray, status, error, empty, array (mixed types), pending (the commit
script answers PENDING, then HGETALL answers nil and integer fields), pending-int and
pending-nil (the verdict word as an integer or nil), loading, bulk-huge ($2147483647 and then
bytes without end), array-huge (*2147483647 and then integers without end), deep (nested
arrays without end), slow (a plausible answer at one byte per second), silence (no answer),
garbage (bytes that are no RESP), moved and ask (a Redis Cluster node that serves every slot by
CLUSTER SLOTS and answers every command with MOVED, or ASK, to itself: redirections without
end).
"""
import hashlib
import os
import socket
import sys
import threading
import time

HANDSHAKE = {b"AUTH", b"SELECT", b"CLIENT", b"CONFIG", b"SCRIPT", b"PING", b"HELLO", b"CLUSTER"}
PORT = 0


def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def read_mode(path):
    try:
        with open(path, "rb") as f:
            words = f.readline().split()
    except OSError:
        words = []
    return (words[0].decode() if words else "silence",
            words[1].decode() if len(words) > 1 else "late")


def normal(cmd):
    """What Redis would answer (enough for the agent's handshake)."""
    name = cmd[0].upper()
    if name == b"PING":
        return b"+PONG\r\n"
    if name == b"CONFIG":
        return b"*2\r\n" + bulk(b"maxmemory-policy") + bulk(b"noeviction")
    if name == b"CLUSTER":  # CLUSTER SLOTS: every slot here
        return (b"*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n" + bulk(b"127.0.0.1") + b":%d\r\n" % PORT +
                bulk(b"0" * 40))
    if name == b"SCRIPT" and len(cmd) > 2:
        return bulk(hashlib.sha1(cmd[2]).hexdigest().encode())
    if name == b"EVALSHA":
        return b"*2\r\n" + bulk(b"OK") + b":1\r\n"
    if name in (b"HGETALL",):
        return b"*0\r\n"
    return b"+OK\r\n"


def stream(conn, head, unit):
    """head, then unit over and over until the peer goes away (or 2.2 GB)."""
    conn.sendall(head)
    chunk = unit * max(1, 65536 // len(unit))
    sent = 0
    while sent < 2200 * 1024 * 1024:
        conn.sendall(chunk)
        sent += len(chunk)


def hostile(conn, mode, cmd):
    name = cmd[0].upper()
    simple = {
        "int": b":1\r\n",
        "nil": b"$-1\r\n",
        "nilarray": b"*-1\r\n",
        "status": b"+OK\r\n",
        "error": b"-ERR hostile answer\r\n",
        "empty": b"*0\r\n",
        "array": b"*4\r\n:1\r\n$-1\r\n*1\r\n+x\r\n-ERR inner\r\n",
        "pending-int": b"*2\r\n:7\r\n:5\r\n",
        "pending-nil": b"*2\r\n$-1\r\n:5\r\n",
        "loading": b"-LOADING Redis is loading the dataset in memory\r\n",
        "garbage": b"\x00\xff?!garbage\r\n\x01\x02",
        "moved": b"-MOVED 1234 127.0.0.1:%d\r\n" % PORT,
        "ask": b"-ASK 1234 127.0.0.1:%d\r\n" % PORT,
    }
    if mode in simple:
        conn.sendall(simple[mode])
    elif mode == "pending":
        if name == b"EVALSHA":
            conn.sendall(b"*2\r\n" + bulk(b"PENDING") + b":3\r\n")
        else:
            conn.sendall(b"*6\r\n" + bulk(b"seq") + b":1\r\n$-1\r\n" + bulk(b"m|lines") +
                         bulk(b"minute") + b"*0\r\n")
    elif mode == "bulk-huge":
        stream(conn, b"$2147483647\r\n", b"x")
    elif mode == "array-huge":
        stream(conn, b"*2147483647\r\n", b":1\r\n")
    elif mode == "deep":
        stream(conn, b"", b"*2\r\n")
    elif mode == "slow":
        for ch in b"*2\r\n$2\r\nOK\r\n:1\r\n" * 100:
            conn.sendall(bytes([ch]))
            time.sleep(1)
    elif mode == "silence":
        while True:
            time.sleep(3600)
    else:
        conn.sendall(normal(cmd))


def parse(buf):
    """One command from buf: (args, rest) or (None, buf) when incomplete."""
    if not buf.startswith(b"*"):
        i = buf.find(b"\n")
        if i < 0:
            return None, buf
        return buf[:i].split(), buf[i + 1:]
    i = buf.find(b"\r\n")
    if i < 0:
        return None, buf
    n, pos, args = int(buf[1:i]), i + 2, []
    for _ in range(n):
        j = buf.find(b"\r\n", pos)
        if j < 0:
            return None, buf
        ln = int(buf[pos + 1:j])
        if len(buf) < j + 2 + ln + 2:
            return None, buf
        args.append(buf[j + 2:j + 2 + ln])
        pos = j + 2 + ln + 2
    return args, buf[pos:]


def serve(conn, control):
    buf = b""
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while True:
                cmd, buf = parse(buf)
                if cmd is None:
                    break
                if not cmd:
                    continue
                mode, target = read_mode(control)
                name = cmd[0].upper()
                late = name not in HANDSHAKE and not (name == b"EVALSHA" and len(cmd) > 2 and
                                                      cmd[2] == b"1") and not (
                    name == b"HGETALL" and len(cmd) > 1 and b":cursor:" in cmd[1])
                if target == "all" or late:
                    hostile(conn, mode, cmd)
                else:
                    conn.sendall(normal(cmd))
    except (OSError, ValueError):
        pass
    finally:
        conn.close()


def main():
    global PORT
    port, control = int(sys.argv[1]), sys.argv[2]
    PORT = port
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    sys.stderr.write("listening %d pid %d\n" % (port, os.getpid()))
    sys.stderr.flush()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, control), daemon=True).start()


if __name__ == "__main__":
    main()
