#!/usr/bin/env python3
"""Every external program the test command, the local-stack scripts and the
tests run is installed by the test command (deploy/tools.tsv) or is part of
the README's base system.

Scans, without running anything:
  - shell scripts (every tracked *.sh and .ci/run, except those that run on
    AWS instances or in the container: terraform/modules/*/templates,
    deploy/packaging): the word at each command position;
  - Rust sources: Command::new and support::have with a literal name;
  - Python scripts: subprocess calls whose argv starts with a literal, and
    shutil.which of a literal.
A command is accounted for when deploy/tools.tsv lists it (with its Debian
package, or "base"), or it is a shell builtin or keyword, or a function some
scanned script defines. Anything else fails the check, naming file and line.

    deploy/check-tools.py               the check (exit 1 on a gap)
    deploy/check-tools.py --self-test   the check must fail once ping is
                                        removed from the manifest
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "deploy/tools.tsv"

# Scripts that do not run here: they run on EC2 instances (cloud-init) or in the container image.
NOT_HERE = ("terraform/modules/", "deploy/packaging/")

SHELL_WORDS = set(
    """
    if then else elif fi case esac for select while until do done in function time
    ! [[ ]] { } ( ) : . source alias bg bind break builtin caller cd command compgen
    complete compopt continue declare dirs disown echo enable eval exec exit export
    fc fg getopts hash help history jobs let local logout mapfile popd printf pushd
    pwd read readarray readonly return set shift shopt suspend test [ times trap
    type typeset ulimit umask unalias unset wait kill true false
    """.split()
)
# `kill`, `true`, `false` are builtins in bash, but Command::new("kill") runs the program:
# Rust and Python uses are checked against the manifest without the builtin exemption.

# Words after which the next word is again a command.
PREFIXES = {"exec", "time", "nohup", "command", "builtin", "!", "then", "do", "else", "elif",
            "if", "while", "until", "sudo", "xargs", "setsid", "stdbuf"}
# Of those, the ones that are programs (their own use is checked too).
PROGRAM_PREFIXES = {"nohup", "sudo", "xargs", "setsid", "stdbuf", "timeout", "env"}
# Prefixes that take arguments before the command: how many words to skip.
PREFIX_ARGS = {"timeout": 1}

# Run by cargo's build scripts, not by a script here: rdkafka-sys builds librdkafka with cc and
# make, openssl-sys finds OpenSSL with pkg-config.
BUILD_TOOLS = {"cc", "make", "pkg-config"}

WORD = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")
CASE_PATTERN = re.compile(r"^\s*\(?[^()\s;]+(\s*\|\s*[^()\s;]+)*\)\s*")
FUNC_DEF = re.compile(r"^\s*(?:function\s+)?([A-Za-z_][A-Za-z0-9_:-]*)\s*\(\)\s*\{?")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_]+)\1")


def manifest(text):
    """(what, package) pairs of deploy/tools.tsv."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1] or parts[2:] not in ([], ["build"]):
            sys.exit(f"{MANIFEST}:{n}: want 'what<TAB>package[<TAB>build]', got {line!r}")
        out.append((parts[0], parts[1]))
    return out


def tracked():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    return [f for f in files if not f.startswith(NOT_HERE)]


def closing(text, i, open_="(", close=")"):
    """The index just past the bracket that closes the one at text[i]."""
    depth = 0
    while i < len(text):
        depth += text[i] == open_
        depth -= text[i] == close
        i += 1
        if depth == 0:
            break
    return i


def command_text(text):
    """The script with comments, quoted text, here-documents, parameter expansions, array
    literals, arithmetic and redirections blanked; command substitutions kept (they run
    commands), newlines kept."""
    out = list(text)
    i, quote, n = 0, None, len(text)
    heredocs = []

    def put(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if quote is None and text.startswith('"$@"', i):
            out[i:i + 4] = list(" @@ ")  # the arguments, run as a command by a wrapper
            i += 4
            continue
        if quote == "'":
            if c == "'":
                quote = None
            else:
                put(i, i + 1)
        elif quote == '"':
            if c == "\\":
                put(i, i + 2)
                i += 2
                continue
            if c == '"':
                quote = None
            elif text.startswith("$(", i) and not text.startswith("$((", i):
                j = closing(text, i + 1)
                # a command substitution inside double quotes: scanned as code
                inner = command_text(text[i + 2:j - 1])
                out[i + 2:j - 1] = list(inner)
                i = j
                continue
            else:
                put(i, i + 1)
        elif c == "\\":
            put(i, i + 2)
            i += 2
            continue
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t\n;|&("):
            j = text.find("\n", i)
            j = n if j < 0 else j
            put(i, j)
            i = j
            continue
        elif text.startswith("${", i):
            j = closing(text, i + 1, "{", "}")
            put(i, j)
            i = j
            continue
        elif text.startswith("$((", i) or text.startswith("((", i):
            j = closing(text, i + (1 if c == "$" else 0))
            put(i, j)
            i = j
            continue
        elif c == "(" and i > 0 and text[i - 1] == "=":
            j = closing(text, i)
            put(i, j)
            i = j
            continue
        elif c == "\n" and heredocs:
            end = heredocs.pop(0)
            k = i + 1
            while k < n:
                e = text.find("\n", k)
                e = n if e < 0 else e
                if text[k:e].strip() == end:
                    k = e
                    break
                k = e + 1
            put(i + 1, min(k, n))
            i = k
            continue
        else:
            m = HEREDOC.match(text, i)
            r = REDIRECT.match(text, i)
            if m:
                heredocs.append(m.group(2))
                put(i, m.end())
                i = m.end()
                continue
            if r and (i == 0 or not text[i - 1].isalnum()):
                put(i, r.end())
                i = r.end()
                continue
        i += 1
    return "".join(out)


REDIRECT = re.compile(r"[0-9]*(?:>>?|<)&?[0-9-]*|&>>?")


def shell_commands(path, wrappers=frozenset()):
    """(line number, command word) at each command position of a shell script, the names of
    the functions it defines, and of those that run their arguments as a command ("$@" at a
    command position: wrappers, whose first argument is then a command)."""
    text = (ROOT / path).read_text()
    uses, funcs, runs_args, current = [], set(), set(), None
    for n, line in enumerate(command_text(text).splitlines(), 1):
        m = FUNC_DEF.match(line)
        if m:
            current = m.group(1)
            funcs.add(current)
            line = line[m.end():]
        elif line.startswith("}"):
            current = None
        # A quoted word (its text is blanked): as a command, a path in a variable, not checked.
        line = re.sub(r"\"\s*\"|'\s*'", "%Q%", line)
        # Separators after which a command starts.
        for seg in re.split(r"\|\||&&|;;|[|;&`]|\$\(|\(|\{\s|\bthen\b|\bdo\b|\belse\b", line):
            if re.match(r"^\s*[^()\s;=]+\)", seg):
                seg = CASE_PATTERN.sub("", seg, count=1)
            words = seg.split()
            i = 0
            while i < len(words):
                w = words[i]
                if ASSIGNMENT.match(w) or w.startswith(("-", ")")):
                    i += 1
                    continue
                if w == "command" and words[i + 1:i + 2] in (["-v"], ["-V"]):
                    # a look-up: the script uses the program when it is there
                    if i + 2 < len(words) and WORD.match(words[i + 2]):
                        uses.append((n, words[i + 2]))
                    break
                if w in PROGRAM_PREFIXES:
                    uses.append((n, w))
                if w in PREFIXES or w in wrappers:
                    i += 1
                    continue
                if w == "@@":
                    if current:
                        runs_args.add(current)
                    break
                if w in PREFIX_ARGS:
                    i += 1 + PREFIX_ARGS[w]
                    while i < len(words) and words[i].startswith("-"):
                        i += 1
                    continue
                if w == "env":
                    i += 1
                    while i < len(words) and (ASSIGNMENT.match(words[i]) or words[i].startswith("-")):
                        i += 1
                    continue
                if w == "ip" and words[i + 1:i + 3] == ["netns", "exec"]:
                    uses.append((n, "ip"))
                    i += 4
                    continue
                if WORD.match(w):
                    uses.append((n, w))
                break
    return uses, funcs, runs_args


RUST_CMD = re.compile(r'(?:Command::new|\bhave)\(\s*"([^"/]+)"')
PY_CMD = re.compile(r'(?:subprocess\.\w+|Popen)\(\s*\[\s*"([^"/]+)"|shutil\.which\(\s*"([^"]+)"')


def uses_everywhere():
    """{command: [(file, line, kind)]} over the scanned files, and the shell functions."""
    uses, funcs = {}, set()
    shell = [f for f in tracked() if f.endswith(".sh") or f == ".ci/run"]
    wrappers = set()
    for f in shell:
        wrappers |= shell_commands(f)[2]
    for f in tracked():
        p = ROOT / f
        if not p.is_file():
            continue
        if f in shell:
            found, defined, _ = shell_commands(f, frozenset(wrappers))
            funcs |= defined
            for n, w in found:
                uses.setdefault(w, []).append((f, n, "sh"))
        elif f.endswith(".rs"):
            for n, line in enumerate(p.read_text().splitlines(), 1):
                for m in RUST_CMD.finditer(line):
                    uses.setdefault(m.group(1), []).append((f, n, "rs"))
        elif f.endswith(".py"):
            for n, line in enumerate(p.read_text().splitlines(), 1):
                for m in PY_CMD.finditer(line):
                    uses.setdefault(m.group(1) or m.group(2), []).append((f, n, "py"))
    return uses, funcs


def gaps(entries):
    known = {what for what, _ in entries if not what.startswith(("/", "python:"))}
    uses, funcs = uses_everywhere()
    missing = []
    for cmd, where in sorted(uses.items()):
        if cmd in known:
            continue
        for f, n, kind in where:
            if kind == "sh" and (cmd in SHELL_WORDS or cmd in funcs):
                continue
            missing.append(f"{f}:{n}: runs `{cmd}`, which deploy/tools.tsv does not list")
    return missing, uses


def main():
    entries = manifest(MANIFEST.read_text())
    if sys.argv[1:] == ["--self-test"]:
        without = [e for e in entries if e[0] != "ping"]
        assert len(without) < len(entries), "ping is not in the manifest"
        missing, _ = gaps(without)
        assert any("`ping`" in m for m in missing), "removing ping did not fail the check"
        print("check-tools self-test: removing ping from deploy/tools.tsv fails the check, as it must")
        return 0
    missing, uses = gaps(entries)
    unused = [what for what, pkg in entries
              if pkg not in ("base", "optional", "project") and what not in BUILD_TOOLS and not what.startswith(("/", "python:"))
              and what not in uses]
    if unused:
        print(f"check-tools: deploy/tools.tsv lists {', '.join(unused)}, which nothing here runs: "
              "remove them (or say where they are used)", file=sys.stderr)
    if missing:
        print("\n".join(missing), file=sys.stderr)
        print(f"check-tools: {len(missing)} use(s) of commands nobody installs: add each to "
              "deploy/tools.tsv with its Debian package", file=sys.stderr)
    if missing or unused:
        return 1
    print(f"check-tools: {len(uses)} external commands used by the scripts and tests, "
          "all installed by deploy/test.sh or part of the base system")
    return 0


if __name__ == "__main__":
    sys.exit(main())
