#!/usr/bin/env python3
"""The fault drill: faults while a writer keeps appending, as on a busy mail host.

A writer thread appends chunks of lines to mail.log (opening the file for each chunk, so a
chunk can still land in a file just renamed away, as with a logger that has not reopened yet)
while the main thread, at random moments, kills the agent with SIGKILL and starts it again,
rotates the log with the real logrotate (create, and copytruncate with the writer held during
the copy and the truncation: logrotate's own loss between them is not the agent's), and kills
Redis with SIGKILL and restarts it from its append-only file. After the last write the agent
must show, within the settle time, exactly `smtpmon scan` of every line written.

Usage: drill.py [--seed N] [--lines 120000] [--seconds 60] [--kills 15] [--rotations 12]
                [--redis-kills 2] [--keep] [-v]
Standard library only; reuses the model-based test's Redis, agent and check code.
"""

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402


class Drill(driver.Run):
    def __init__(self, seed, a, workdir, verbose):
        super().__init__(seed, 0, workdir, verbose)
        self.a = a
        self.events_rng = random.Random(seed ^ 0x5DEECE66D)
        self.hold = threading.Lock()      # held by the main thread around a copytruncate
        self.written = 0
        self.writer_error = None
        # A batch of 20 lines (one of the model's) makes the catch-up after 60 restarts a
        # minute longer than the two minutes allowed: the drill keeps to realistic sizes.
        self.batch_lines = self.events_rng.choice([200, 1000, 5000])
        self.write_conf()

    def writer(self):
        wrng = random.Random(self.seed + 1)
        total = self.a.lines
        start = time.time()
        try:
            while self.written < total:
                n = min(total - self.written, wrng.choice([1, 10, 50, 200, 500]))
                buf = bytearray()
                for _ in range(n):
                    i = len(self.lines)
                    self.lines.append(self.gen_line(i))
                    buf += self.lines[i]
                with self.hold:
                    with open(self.log, "ab") as f:
                        f.write(bytes(buf))
                self.written += n
                # keep to the rate: total lines over the drill's seconds
                ahead = self.written / total * self.a.seconds - (time.time() - start)
                if ahead > 0:
                    time.sleep(ahead)
        except BaseException as e:  # reported by the main thread
            self.writer_error = e

    def run(self):
        a = self.a
        events = (["kill"] * a.kills + ["redis"] * a.redis_kills +
                  ["create", "copytruncate"] * (a.rotations // 2) +
                  ["create"] * (a.rotations % 2))
        self.events_rng.shuffle(events)
        times = sorted(self.events_rng.uniform(0.02, 0.98) * a.seconds for _ in events)
        self.redis_start()
        self.agent_start()
        w = threading.Thread(target=self.writer, daemon=True)
        start = time.time()
        w.start()
        for at, ev in zip(times, events):
            delay = start + at - time.time()
            if delay > 0:
                time.sleep(delay)
            if self.writer_error is not None:
                raise driver.Failure("writer: %s" % self.writer_error)
            if ev == "kill":
                self.agent_kill9()
                time.sleep(self.events_rng.choice([0, 0.05, 0.3, 1]))
                self.agent_start()
                self.note("%.1fs agent kill -9 and start (%d lines written)"
                          % (time.time() - start, self.written))
            elif ev == "redis":
                self.redis_kill()
                time.sleep(self.events_rng.choice([0, 0.3, 1]))
                self.redis_start()
                self.note("%.1fs redis kill -9, restarted with its append-only file"
                          % (time.time() - start))
            elif ev == "copytruncate":
                with self.hold:
                    self.logrotate("copytruncate")
                self.note("%.1fs logrotate copytruncate" % (time.time() - start))
            else:
                self.logrotate("create")
                self.note("%.1fs logrotate create" % (time.time() - start))
            self.ops_done += 1
        w.join()
        if self.writer_error is not None:
            raise driver.Failure("writer: %s" % self.writer_error)
        self.note("%.1fs last write (%d lines)" % (time.time() - start, self.written))
        t0 = time.time()
        self.settle(timeout=120)  # the promise: equal within two minutes of the last write
        self.check()
        self.note("equal %.1fs after the last write" % (time.time() - t0))
        self.agent_stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--lines", type=int, default=120000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--kills", type=int, default=15)
    ap.add_argument("--rotations", type=int, default=12)
    ap.add_argument("--redis-kills", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if not os.access(driver.SMTPMON, os.X_OK):
        print("SKIP: build %s first" % driver.SMTPMON)
        return 77
    for tool in ("redis-server", "redis-cli", "logrotate"):
        if shutil.which(tool) is None:
            print("SKIP: %s is not installed" % tool)
            return 77
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
    t = tempfile.mkdtemp(prefix="smtpmon-drill.", dir=os.environ.get("TMPDIR", "/tmp"))
    d = Drill(seed, a, t, a.verbose)
    start = time.time()
    try:
        d.run()
    except driver.Failure as e:
        d.close()
        print("FAIL drill seed=%d (%.1fs): %s" % (seed, time.time() - start, e))
        for line in d.trace[-40:]:
            print("    " + line)
        if d.agent_n:
            print("  last agent log (%s):" % d.agent_err)
            with open(d.agent_err, errors="replace") as f:
                for line in f.readlines()[-25:]:
                    print("    " + line.rstrip())
        print("  replay: python3 %s --seed %d (kept %s)" % (__file__, seed, t))
        return 1
    except BaseException:
        d.close()
        raise
    d.close()
    print("ok drill seed=%d: %d lines, %d agent kill -9, %d rotations, %d Redis kill -9, "
          "rotate_wait=%dms, %s" % (seed, d.written, a.kills, a.rotations, a.redis_kills,
                                    d.rotate_wait_ms, d.trace[-1]))
    if not a.keep:
        shutil.rmtree(t, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
