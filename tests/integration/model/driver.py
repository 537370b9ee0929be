#!/usr/bin/env python3
"""Model-based random test of exactly-once counting under combined faults.

From a seed, generates a random sequence of operations on a real log file, a real agent and a
real redis-server: append bursts (some ending in a partial line), rotation by rename and create
(the real logrotate or a rename), copytruncate (the real logrotate or a copy and a
truncation), gzip compression and deletion of old rotations, truncation in place, several
rotations while the agent is down, kill -9 and restart of the agent at random moments, SIGHUP,
kill -9 of Redis (append-only file with fsync on every write: nothing acknowledged is lost),
Redis restarted empty, log timestamps moving across minutes.

A model keeps every line written and where it is (which file, compressed or not). After each
sequence the driver waits for the agent to settle and checks the invariant

    smtpmon query == smtpmon scan (every line written, less the admitted loss)

The admitted loss (README, "Rotation model") is computed exactly: lines that were in no
uncompressed file when Redis was restarted empty. Old rotations are only compressed or
deleted once their lines are committed (the agent running: after it settled; the agent down:
by the committed line count, and never the committed cursor's own file), so no other loss is
admitted.

Usage: driver.py [--seed N] [--sequences K] [--ops M] [--seconds S] [--keep]
SEED=N replays one seed. Prints the seed of every sequence, and on failure the replay command.
Standard library only.
"""

import argparse
import gzip
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SMTPMON = os.environ.get("SMTPMON", os.path.join(ROOT, "build", "smtpmon"))
AGENT_ID = "model"
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


class Failure(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Run:
    def __init__(self, seed, nops, workdir, verbose):
        self.seed = seed
        self.rng = random.Random(seed)
        self.nops = nops
        self.t = workdir
        self.verbose = verbose
        self.logdir = os.path.join(self.t, "log")
        self.log = os.path.join(self.logdir, "mail.log")
        os.makedirs(self.logdir)
        os.makedirs(os.path.join(self.t, "redis"))
        self.lines = []          # text of every line (bytes, with its newline), in write order
        self.lost = set()        # ids of lines in the admitted loss
        self.files = {"mail.log": []}  # uncompressed name -> ids of the complete lines in it
        self.partial = None      # (id, bytes written) of the last line of mail.log, incomplete
        self.clock = 14 * 3600   # seconds into Nov 28 of the lines' timestamps
        self.agent = None
        self.agent_n = 0
        self.redis = None
        self.port = free_port()
        self.ops_done = 0
        self.trace = []
        # Per sequence: a rotate_wait both shorter and longer than the restart interval.
        self.rotate_wait_ms = self.rng.choice([200, 300, 1000, 3000])
        self.batch_lines = self.rng.choice([20, 200, 5000])
        self.write_conf()

    # ---------------------------------------------------------------- helpers

    def note(self, msg):
        self.trace.append(msg)
        if self.verbose:
            print("  " + msg, file=sys.stderr, flush=True)

    def write_conf(self):
        self.conf = os.path.join(self.t, "smtpmon.conf")
        with open(self.conf, "w") as f:
            f.write(f"""[agent]
state_dir = {self.t}/state
flush_interval = 100ms
rescan_interval = 1s
rotate_wait = {self.rotate_wait_ms}ms
stop_timeout = 2s
read_from = head
batch_lines = {self.batch_lines}
agent_id = {AGENT_ID}
[redis]
url = redis://127.0.0.1:{self.port}
timeout = 1s
lease = 5s
[source mail]
path = {self.log}
""")

    def gen_line(self, i):
        # Time moves on by 0-3 s a line, sometimes by minutes.
        self.clock += self.rng.choice([0, 0, 1, 1, 2, 3])
        t = self.clock % 86400
        stamp = "Nov 28 %02d:%02d:%02d" % (t // 3600, t // 60 % 60, t % 60)
        dom = self.rng.choice(["example.com", "example.net", "example.org", "gmail.com"])
        head = "%s mx1 postfix/smtp[%d]: %010X: to=<u%d@%s>" % (stamp, 100 + i % 900, i, i, dom)
        k = self.rng.random()
        if k < 0.1:
            tail = (", relay=mx.%s[198.18.0.1]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, "
                    "status=bounced (host mx.%s[198.18.0.1] said: 550 5.1.1 <u%d@%s>: "
                    "Recipient address rejected: User unknown (in reply to RCPT TO command))"
                    % (dom, dom, i, dom))
        elif k < 0.2:
            tail = (", relay=mx.%s[198.18.0.1]:25, delay=3, delays=0/0/1/2, dsn=4.2.0, "
                    "status=deferred (host mx.%s[198.18.0.1] said: 451 4.2.0 Greylisted, try "
                    "again later (in reply to RCPT TO command))" % (dom, dom))
        elif k < 0.25:
            return ("%s mx1 postfix/qmgr[77]: %010X: removed\n" % (stamp, i)).encode()
        else:
            tail = (", relay=mx.%s[198.18.0.1]:25, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, "
                    "status=sent (250 2.0.0 OK %d)" % (dom, i))
        return (head + tail + "\n").encode()

    def path(self, name):
        return os.path.join(self.logdir, name)

    def complete_ids(self):
        return [i for i in range(len(self.lines)) if self.partial is None or i != self.partial[0]]

    def expected_ids(self):
        return [i for i in self.complete_ids() if i not in self.lost]

    def on_disk_ids(self):
        s = set()
        for ids in self.files.values():
            s.update(ids)
        return s

    # ---------------------------------------------------------------- Redis

    def redis_start(self, empty=False):
        d = os.path.join(self.t, "redis")
        if empty:
            shutil.rmtree(d)
            os.makedirs(d)
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", d,
             "--maxmemory-policy", "noeviction"],
            stdout=open(os.path.join(self.t, "redis.log"), "ab"), stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.rcli("PING") == "PONG":
                return
            time.sleep(0.05)
        raise Failure("redis-server did not start")

    def redis_kill(self):
        self.redis.kill()
        self.redis.wait()
        self.redis = None

    def rcli(self, *args):
        try:
            r = subprocess.run(["redis-cli", "-p", str(self.port), "--no-auth-warning"] +
                               list(args), capture_output=True, timeout=10)
        except subprocess.TimeoutExpired:
            return ""
        return r.stdout.decode(errors="replace").strip()

    def query(self):
        # -f: its own configuration, never one installed in /etc.
        r = subprocess.run([SMTPMON, "query", "-f", self.conf,
                            "--redis", "redis://127.0.0.1:%d" % self.port,
                            "--agent=" + AGENT_ID, "--format", "json"],
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def committed_lines(self):
        q = self.query()
        return q.get("lines", 0) if q else 0

    # ---------------------------------------------------------------- the agent

    def agent_start(self):
        self.agent_n += 1
        err = open(os.path.join(self.t, "agent%d.err" % self.agent_n), "wb")
        env = dict(os.environ, SMTPMON_REDIS_BACKOFF_MAX_MS="300")
        self.agent = subprocess.Popen([SMTPMON, "-f", self.conf], stderr=err, env=env)
        self.agent_err = err.name
        # Signals are handled once it says it started.
        deadline = time.time() + 10
        while time.time() < deadline and self.agent.poll() is None:
            with open(self.agent_err, "rb") as f:
                if b" started: " in f.read():
                    return
            time.sleep(0.01)
        if self.agent.poll() is not None:
            raise Failure("agent exited at start with %s (%s)" % (self.agent.returncode,
                                                                 self.agent_err))
        raise Failure("agent did not start")

    def agent_alive(self):
        return self.agent is not None and self.agent.poll() is None

    def agent_kill9(self):
        if self.agent is not None:
            if self.agent.poll() is not None:
                raise Failure("agent exited by itself with %s (%s)"
                              % (self.agent.returncode, self.agent_err))
            self.agent.kill()
            self.agent.wait()
            self.agent = None

    def agent_stop(self):
        if self.agent is None:
            return
        self.agent.send_signal(signal.SIGTERM)
        try:
            rc = self.agent.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise Failure("agent did not stop on SIGTERM")
        self.agent = None
        if rc != 0:
            raise Failure("agent exited %d on SIGTERM" % rc)

    def settle(self, timeout=None):
        """Waits until Redis holds exactly the expected lines (the agent running)."""
        want = len(self.expected_ids())
        if timeout is None:
            timeout = 40 + 3 * self.rotate_wait_ms / 1000.0
        deadline = time.time() + timeout
        got = -1
        while time.time() < deadline:
            if self.agent is not None and self.agent.poll() is not None:
                raise Failure("agent exited with %s (%s)" % (self.agent.returncode,
                                                            self.agent_err))
            got = self.committed_lines()
            if got == want:
                return
            if got > want:
                # more than written: counted twice (or a wrong model); give it no time
                time.sleep(0.3)
                got = self.committed_lines()
                if got > want:
                    raise Failure("Redis holds %d lines, %d expected: counted twice" %
                                  (got, want))
            time.sleep(0.1)
        raise Failure("timeout: Redis holds %d lines, %d expected" % (got, want))

    # ---------------------------------------------------------------- file operations

    def write(self, data):
        with open(self.log, "ab") as f:
            f.write(data)

    def finish_partial(self):
        if self.partial is not None:
            i, k = self.partial
            self.write(self.lines[i][k:])
            self.files["mail.log"].append(i)
            self.partial = None

    def op_append(self):
        self.finish_partial()
        n = self.rng.choice([1, 5, 20, 100, 300, 1000])
        if self.rng.random() < 0.15:
            self.clock += self.rng.choice([60, 120, 600])
        buf = bytearray()
        for _ in range(n):
            i = len(self.lines)
            self.lines.append(self.gen_line(i))
            buf += self.lines[i]
            self.files["mail.log"].append(i)
        part = ""
        if self.rng.random() < 0.3:
            i = len(self.lines)
            self.lines.append(self.gen_line(i))
            k = self.rng.randrange(1, len(self.lines[i]) - 1)
            buf += self.lines[i][:k]
            self.partial = (i, k)
            part = " + partial %d bytes" % k
        self.write(bytes(buf))
        self.note("append %d lines%s" % (n, part))

    def shift_numbered(self):
        """mail.log.N -> mail.log.N+1, highest first, as logrotate does (uncompressed only)."""
        nums = sorted((int(n.rsplit(".", 1)[1]) for n in self.files
                       if n.startswith("mail.log.") and n[9:].isdigit()), reverse=True)
        for k in nums:
            self.files["mail.log.%d" % (k + 1)] = self.files.pop("mail.log.%d" % k)
        return nums

    def logrotate(self, mode):
        conf = os.path.join(self.t, "logrotate.conf")
        with open(conf, "w") as f:
            f.write("%s {\n    rotate 500\n    %s\n    missingok\n    ifempty\n}\n"
                    % (self.log, "copytruncate" if mode == "copytruncate" else "create 0644"))
        r = subprocess.run(["logrotate", "-f", "-s", os.path.join(self.t, "lr.state"), conf],
                           capture_output=True)
        if r.returncode != 0:
            raise Failure("logrotate: %s" % r.stderr.decode(errors="replace"))

    def op_rotate(self, mode=None):
        self.finish_partial()
        if mode is None:
            mode = self.rng.choice(["create", "create", "copytruncate"])
        real = shutil.which("logrotate") is not None and self.rng.random() < 0.5
        if real:
            self.logrotate(mode)
        else:
            for k in sorted((int(n[9:]) for n in os.listdir(self.logdir)
                             if n.startswith("mail.log.") and n[9:].isdigit()), reverse=True):
                os.rename(self.path("mail.log.%d" % k), self.path("mail.log.%d" % (k + 1)))
            if mode == "create":
                os.rename(self.log, self.path("mail.log.1"))
                open(self.log, "ab").close()
            else:
                shutil.copyfile(self.log, self.path("mail.log.1"))
                os.truncate(self.log, 0)
        self.shift_numbered()
        self.files["mail.log.1"] = self.files["mail.log"]
        self.files["mail.log"] = []
        self.note("rotate %s (%s)" % (mode, "logrotate" if real else "rename" if mode ==
                                     "create" else "cp + truncate"))

    def committed_set(self):
        """Ids of the lines committed: the agent reads in write order."""
        n = self.committed_lines()
        return set(self.expected_ids()[:n])

    def removable(self):
        """Rotated files whose removal loses nothing not admitted."""
        names = [n for n in self.files if n != "mail.log"]
        if not names:
            return []
        if self.agent_alive():
            self.settle()
            done = None
        else:
            done = self.committed_set()
        # The agent running: everything is committed once it settled. The agent down: only
        # files whose lines are all committed. Never the committed cursor's own file: when it
        # is gone, the files after it are told by modification time, which the touch
        # operation scrambles (README, "Rotation model").
        ino = self.rcli("HGET", "smtpmon:{%s}:cursor:mail" % AGENT_ID, "ino")
        out = []
        for n in names:
            if done is not None and not set(self.files[n]) <= done:
                continue
            try:
                if str(os.stat(self.path(n)).st_ino) == ino:
                    continue
            except OSError:
                continue
            out.append(n)
        return out

    def op_compress_or_delete(self):
        # The random draws come first, so that a replay takes the same path whatever the
        # timing made removable.
        oldest, pick, gz = self.rng.random(), self.rng.random(), self.rng.random()
        cand = self.removable()
        if not cand:
            self.note("compress/delete: nothing removable")
            return
        # The oldest ones, as logrotate would.
        cand.sort(key=lambda n: -int(n[9:]))
        name = cand[0] if oldest < 0.7 else cand[int(pick * len(cand))]
        if gz < 0.5:
            with open(self.path(name), "rb") as src, gzip.open(self.path(name) + ".gz",
                                                                "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.unlink(self.path(name))
            self.note("gzip %s" % name)
        else:
            os.unlink(self.path(name))
            self.note("delete %s" % name)
        del self.files[name]

    def op_truncate_in_place(self):
        """Shrinks mail.log at a line boundary (same inode), to 0 or keeping a prefix. The
        agent running: a file shrunk while it is stopped is read on from its end when it
        starts, so lines appended in between are not read (README, "Rotation model")."""
        if not self.agent_alive():
            self.note("truncate in place: agent down, skipped")
            return
        self.finish_partial()
        ids = self.files["mail.log"]
        self.settle()
        done = set(ids)
        # To 0, or keeping at least the first KiB: a shorter prefix cannot be told from
        # new content by a stopped agent (README, "Rotation model").
        keep = 0
        if ids and self.rng.random() < 0.5:
            first = 1
            while first < len(ids) and sum(len(self.lines[i]) for i in ids[:first]) < 1024:
                first += 1
            if first < len(ids):
                keep = self.rng.randrange(first, len(ids))
        size = sum(len(self.lines[i]) for i in ids[:keep])
        os.truncate(self.log, size)
        gone = [i for i in ids[keep:] if i not in done]
        self.lost.update(gone)
        self.files["mail.log"] = ids[:keep]
        self.note("truncate in place to %d lines (%d bytes), %d lines not yet committed lost"
                  % (keep, size, len(gone)))
        if not ids:
            return
        # Until the agent has committed a cursor within the shrunk file, a restart would take
        # the shrink for one made while it was stopped: wait for that commit.
        key = "smtpmon:{%s}:cursor:mail" % AGENT_ID
        ino = str(os.stat(self.log).st_ino)
        deadline = time.time() + 20
        while time.time() < deadline:
            off = self.rcli("HGET", key, "offset")
            if self.rcli("HGET", key, "ino") == ino and off.isdigit() and int(off) <= size:
                return
            time.sleep(0.05)
        raise Failure("the agent did not commit a cursor within the shrunk file")

    def op_touch_rotated(self):
        """A rotated file's mtime made the newest (a cp into the name, or a touch)."""
        names = [n for n in self.files if n != "mail.log"]
        if names:
            n = self.rng.choice(names)
            os.utime(self.path(n))
            self.note("touch %s" % n)

    def op_agent(self):
        if self.agent_alive():
            r = self.rng.random()
            if r < 0.7:
                time.sleep(self.rng.choice([0, 0.01, 0.05, 0.2]))
                self.agent_kill9()
                self.note("agent kill -9")
            elif r < 0.85:
                self.agent.send_signal(signal.SIGHUP)
                self.note("agent SIGHUP")
            else:
                self.agent_stop()
                self.note("agent SIGTERM")
        else:
            self.agent_start()
            self.note("agent start")

    def op_redis(self):
        if self.rng.random() < 0.5:
            self.redis_kill()
            time.sleep(self.rng.choice([0, 0.2, 1]))
            self.redis_start()
            self.note("redis kill -9, restarted with its append-only file")
        else:
            self.redis_kill()
            # Counts and cursors are gone: every line on no uncompressed file is lost.
            present = self.on_disk_ids()
            n = 0
            for i in self.complete_ids():
                if i not in present and i not in self.lost:
                    self.lost.add(i)
                    n += 1
            self.redis_start(empty=True)
            self.note("redis kill -9, restarted empty (%d lines no longer on disk)" % n)
            # The agent notices at its next commit: give it one.
            self.op_append()

    # ---------------------------------------------------------------- sequence and check

    def check(self):
        self.finish_partial()
        if not self.agent_alive():
            self.agent_start()
        self.settle()
        written = os.path.join(self.t, "expected.log")
        with open(written, "wb") as f:
            for i in self.expected_ids():
                f.write(self.lines[i])
        r = subprocess.run([SMTPMON, "scan", "--format", "json", written], capture_output=True)
        if r.returncode != 0:
            raise Failure("scan failed: %s" % r.stderr.decode(errors="replace"))
        scan = json.loads(r.stdout)
        query = self.query()
        if query is None:
            raise Failure("query failed")
        for k in ("first_time", "last_time"):
            scan.pop(k, None)
            query.pop(k, None)
        for n in range(1, self.agent_n + 1):
            with open(os.path.join(self.t, "agent%d.err" % n), errors="replace") as f:
                text = f.read()
            if "ERROR: AddressSanitizer" in text or "ERROR: LeakSanitizer" in text or \
                    "runtime error:" in text:
                raise Failure("sanitizer report in agent%d.err" % n)
        if scan != query:
            diff = []
            for k in sorted(set(scan) | set(query)):
                if scan.get(k) != query.get(k):
                    diff.append("%s: scan %s, query %s" % (k, json.dumps(scan.get(k))[:300],
                                                          json.dumps(query.get(k))[:300]))
            raise Failure("query differs from scan:\n    " + "\n    ".join(diff))

    def run(self):
        ops = [(self.op_append, 30), (self.op_rotate, 12), (self.op_agent, 14),
               (self.op_compress_or_delete, 6), (self.op_truncate_in_place, 3),
               (self.op_redis, 4), (self.op_touch_rotated, 3)]
        funcs = [f for f, w in ops for _ in range(w)]
        self.redis_start()
        # The first start reads the file from its head; everything after it resumes.
        self.op_append()
        self.agent_start()
        self.settle()
        time.sleep(0.3)  # the local hint is written after the acknowledgement
        for _ in range(self.nops):
            f = self.rng.choice(funcs)
            if f == self.op_rotate and self.rng.random() < 0.2:
                # several rotations in a row, with lines between them
                for _ in range(self.rng.randrange(2, 5)):
                    self.op_append()
                    self.op_rotate()
                    self.ops_done += 2
            else:
                f()
                self.ops_done += 1
            if self.rng.random() < 0.3:
                time.sleep(self.rng.choice([0.01, 0.1, 0.3]))
        self.check()
        self.agent_stop()

    def close(self):
        if self.agent is not None and self.agent.poll() is None:
            self.agent.kill()
            self.agent.wait()
        if self.redis is not None:
            self.redis.kill()
            self.redis.wait()


def run_seed(seed, nops, keep, verbose):
    t = tempfile.mkdtemp(prefix="smtpmon-model.", dir=os.environ.get("TMPDIR", "/tmp"))
    r = Run(seed, nops, t, verbose)
    start = time.time()
    try:
        r.run()
    except Failure as e:
        r.close()
        print("FAIL seed=%d after %d operations (%.1fs): %s" % (seed, r.ops_done,
                                                                 time.time() - start, e))
        print("  operations:")
        for line in r.trace[-60:]:
            print("    " + line)
        if r.agent_n:
            print("  last agent log (%s):" % r.agent_err)
            with open(r.agent_err, errors="replace") as f:
                for line in f.readlines()[-25:]:
                    print("    " + line.rstrip())
        print("  replay: SEED=%d OPS=%d sh tests/integration/test_model_random.sh (kept %s)"
              % (seed, nops, t))
        return False, r.ops_done
    except BaseException:
        r.close()
        raise
    r.close()
    print("ok seed=%d: %d operations, %d lines, %d lost (admitted), rotate_wait=%dms, "
          "%.1fs" % (seed, r.ops_done, len(r.lines), len(r.lost), r.rotate_wait_ms,
                     time.time() - start), flush=True)
    if not keep:
        shutil.rmtree(t, ignore_errors=True)
    return True, r.ops_done


def main():
    # SIGTERM (make soak stopped, a timeout) ends the sequence with its processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, action="append")
    ap.add_argument("--sequences", type=int, default=1)
    ap.add_argument("--ops", type=int, default=int(os.environ.get("OPS", "40")))
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if not os.access(SMTPMON, os.X_OK):
        print("SKIP: build %s first" % SMTPMON)
        return 77
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            print("SKIP: needs %s" % tool)
            return 77
    seeds = a.seed or []
    nseq = nops = failed = 0
    start = time.time()
    sysrng = random.SystemRandom()
    while True:
        if seeds:
            if nseq >= len(seeds):
                break
            seed = seeds[nseq]
        elif a.seconds > 0:
            if time.time() - start >= a.seconds:
                break
            seed = sysrng.randrange(1, 2 ** 31)
        else:
            if nseq >= a.sequences:
                break
            seed = sysrng.randrange(1, 2 ** 31)
        ok, n = run_seed(seed, a.ops, a.keep, a.verbose)
        nseq += 1
        nops += n
        if not ok:
            failed += 1
            if not a.seconds or n == 0:
                break  # a soak goes on after a failure, unless nothing could run at all
    print("model: %d sequences, %d operations, %d failed, %.0fs"
          % (nseq, nops, failed, time.time() - start))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
