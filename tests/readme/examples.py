#!/usr/bin/env python3
"""The sample outputs in README.md are real: each fenced block that follows the line
<!-- checked: make test -->
holds one or more commands written as '$ build/smtpmon ...' (pipes to head, jq and the like are
allowed), each followed by what it prints (paths under the project root shown relative to it).
This script runs every such command from the project
root, on the shipped sample, and compares; --update rewrites the blocks with the real output.

Usage: examples.py [--update] [README]   (SMTPMON replaces build/smtpmon in the commands)
Exit status 0 when every block matches (or was updated), 1 with a diff otherwise."""
import difflib
import os
import subprocess
import sys

MARK = "<!-- checked: make test -->"


def run(cmd, root):
    smtpmon = os.environ.get("SMTPMON")
    if smtpmon and cmd.startswith("build/smtpmon"):
        cmd = smtpmon + cmd[len("build/smtpmon"):]
    env = dict(os.environ, TZ="UTC", LC_ALL="C.UTF-8", COLUMNS="100")
    # No pipefail: 'scan | head' may end scan with a broken pipe, which is not a failure here;
    # a command that fails in another way prints nothing or something else, and differs.
    p = subprocess.run(["bash", "-c", cmd], cwd=root, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    if p.returncode != 0 or not p.stdout:
        sys.stderr.write(p.stderr.decode("utf-8", "replace"))
        raise SystemExit("README example failed (exit %d): $ %s" % (p.returncode, cmd))
    # Paths under the clone are shown relative to it, as they are the same in every clone.
    text = p.stdout.decode("utf-8", "surrogateescape").replace(root + "/", "")
    return text.rstrip("\n").split("\n")


def render(block, root):
    """block: the lines between the fences. Returns them with each command's output replaced."""
    out = []
    for line in block:
        if line.startswith("$ "):
            if out:
                out.append("")
            out.append(line)
            out.extend(run(line[2:], root))
    return out


def main():
    args = sys.argv[1:]
    update = "--update" in args
    args = [a for a in args if a != "--update"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = args[0] if args else os.path.join(root, "README.md")
    lines = open(path, encoding="utf-8").read().split("\n")
    result, i, blocks, bad = [], 0, 0, 0
    while i < len(lines):
        result.append(lines[i])
        if lines[i].strip() != MARK:
            i += 1
            continue
        start = i + 1
        if start >= len(lines) or not lines[start].startswith("```"):
            raise SystemExit("%s:%d: %s is not followed by a fenced block" % (path, i + 1, MARK))
        end = start + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        if end >= len(lines):
            raise SystemExit("%s:%d: unterminated fenced block" % (path, start + 1))
        old = lines[start + 1:end]
        if not any(l.startswith("$ ") for l in old):
            raise SystemExit("%s:%d: a checked block holds no '$ ' command" % (path, start + 1))
        new = render(old, root)
        blocks += 1
        if new != old:
            bad += 1
            if not update:
                sys.stdout.writelines(difflib.unified_diff(
                    [l + "\n" for l in old], [l + "\n" for l in new],
                    "%s:%d (README)" % (path, start + 2), "real output"))
        result.append(lines[start])
        result.extend(new)
        result.append(lines[end])
        i = end + 1
    if update:
        if bad:
            open(path, "w", encoding="utf-8").write("\n".join(result))
        print("README examples: %d blocks, %d updated" % (blocks, bad))
        return 0
    if blocks == 0:
        raise SystemExit("%s: no checked example found" % path)
    print("README examples: %d blocks, %d differ" % (blocks, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
