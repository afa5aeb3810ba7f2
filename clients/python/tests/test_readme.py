"""The READMEs' code blocks run against a real server with the module, and
show what they print (issue 34): README.md, clients/python/README.md and
clients/node/README.md.

Which blocks run (the rule, explicit and small):

- an untagged block whose commands start with `> ` is a redis-cli session:
  each `> COMMAND` (a trailing `# comment` dropped) goes through
  `redis-cli --no-raw`, and the lines shown after it are its reply, compared
  exactly; `...` ends what is shown (the rest elided). Sessions whose replies
  are a live server's clock and counters (`HANOI.HISTORY`, `HANOI.STATS`,
  `INFO`) are run without comparing the reply;
- a `python` block runs in the venv, the file's blocks in order in one
  namespace (a block may use what an earlier one defined); a line
  `expr  # -> value` checks that `expr == value`;
- a `ts` block is transpiled by the package's TypeScript and run by node as
  an ES module, the file's blocks in order in one module; a line
  `expr;  // -> value` (or `expr;` then a line `// -> value`) checks that
  every field of `value` is in `expr`'s answer;
- `redis.Redis()` / `redis.asyncio.Redis()` (Python) and `new Redis(6379)`
  (Node) talk to the test's server; a Python or Node OpenFeature evaluation
  answering an error code fails the block (a README must not show an
  evaluation that silently answers the default);
- everything else is skipped, by language: `sh` (make, npm, pip), `toml`
  (config files), `rust` (the core's doctests cover the evaluator), untagged
  blocks without `> ` (command lists with placeholders, `curl` through
  hanoi-web).
"""

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT, Server

READMES = ["README.md", "clients/python/README.md", "clients/node/README.md"]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
NODE = ROOT / "clients" / "node"
#: Replies that are a live server's clock and counters: run, not compared.
LIVE = ("HANOI.HISTORY", "HANOI.STATS", "INFO")


def blocks(readme: str):
    text = (ROOT / readme).read_text()
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        yield m.group(1), m.group(2), line


def kind(lang: str, body: str) -> str:
    if lang == "python":
        return "python"
    if lang == "ts":
        return "ts"
    if lang == "" and any(ln.startswith("> ") for ln in body.splitlines()):
        return "redis-cli"
    return "skipped"


def test_the_rule_leaves_out_only_what_it_says():
    seen = {}
    for readme in READMES:
        for lang, body, _ in blocks(readme):
            k = kind(lang, body)
            if k == "skipped":
                seen.setdefault(lang or "untagged", 0)
                seen[lang or "untagged"] += 1
    assert set(seen) <= {"sh", "toml", "rust", "untagged"}, seen


@pytest.fixture
def fresh():
    s = Server()
    s.start()
    yield s
    s.close()


# ----- redis-cli sessions -----


def _session(body: str):
    """(command, shown reply lines) pairs."""
    out = []
    for ln in body.splitlines():
        if ln.startswith("> "):
            cmd = re.sub(r"\s+#\s.*$", "", ln[2:]).strip()
            out.append((cmd, []))
        elif out:
            out[-1][1].append(ln.rstrip())
    return out


def test_readme_redis_cli_sessions(fresh):
    failures = []
    for readme in READMES:
        for lang, body, line in blocks(readme):
            if kind(lang, body) != "redis-cli":
                continue
            for cmd, shown in _session(body):
                got = subprocess.run(
                    ["redis-cli", "-p", str(fresh.port), "--no-raw"],
                    input=cmd + "\n", capture_output=True, text=True, timeout=30,
                ).stdout.rstrip("\n").splitlines()  # fmt: skip
                got = [g.rstrip() for g in got]
                if cmd.split()[0].upper() in LIVE:
                    if any(g.startswith("(error)") for g in got):
                        failures.append(f"{readme}:{line}: {cmd}: {got}")
                    continue
                if "..." in shown:
                    shown = shown[: shown.index("...")]
                    got = got[: len(shown)]
                if got != shown:
                    failures.append(f"{readme}:{line}: {cmd}\n  shown: {shown}\n  got:   {got}")
    assert not failures, "\n".join(failures)


# ----- Python -----

PY_PREAMBLE = """
import asyncio, os, sys
import redis, redis.asyncio
from openfeature import api
from openfeature.hook import Hook

PORT = int(os.environ["README_PORT"])
for cls in (redis.Redis, redis.asyncio.Redis):
    def init(self, *a, __init=cls.__init__, **kw):
        if not a:
            kw.setdefault("port", PORT)
        __init(self, *a, **kw)
    cls.__init__ = init

ERRORS = []
class _NoSilentDefault(Hook):
    def finally_after(self, ctx, details, hints):
        if details.error_code is not None:
            ERRORS.append(f"{ctx.flag_key}: {details.error_code} {details.error_message}")
api.add_hooks([_NoSilentDefault()])
"""


def _python_program(bodies) -> str:
    out = []
    for body, line in bodies:
        src = []
        for ln in body.splitlines():
            m = re.match(r"^(\S.*?)\s+# -> (.*)$", ln)
            if m:
                src.append(f"__check({m.group(1)!r}, {m.group(1)}, {m.group(2)}, {line})")
            else:
                src.append(ln)
        out.append((("\n".join(src)), line))
    return out


PY_RUNNER = """
import ast, json, types
def __check(text, got, want, line):
    if got != want:
        raise AssertionError(f"line {line}: {text} is {got!r}, the README says {want!r}")
ns = {"__check": __check, "__name__": "__readme__"}
for src, line in json.loads(sys.stdin.read()):
    code = compile(src, f"<README block at line {line}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, ns)
    if isinstance(result, types.CoroutineType):
        asyncio.run(result)
    if ERRORS:
        raise AssertionError(f"block at line {line}: an evaluation answered an error: {ERRORS}")
api.shutdown()
sys.stdout.flush()
os._exit(0)
"""


@pytest.mark.parametrize("readme", [r for r in READMES if "node" not in r])
def test_readme_python_blocks(readme, fresh):
    bodies = [(b, ln) for lang, b, ln in blocks(readme) if kind(lang, b) == "python"]
    assert bodies
    program = PY_PREAMBLE + PY_RUNNER
    proc = subprocess.run(
        [sys.executable, "-c", program],
        input=json.dumps(_python_program(bodies)),
        env={**os.environ, "README_PORT": str(fresh.port)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]


# ----- Node (TypeScript) -----

TS_PREAMBLE = """
import __assert from "node:assert/strict";
import { OpenFeature as __OF } from "@openfeature/server-sdk";
const __errors: string[] = [];
__OF.addHooks({ finally: (ctx: any, d: any) => { if (d?.errorCode) __errors.push(`${ctx.flagKey}: ${d.errorCode} ${d.errorMessage}`); } });
function __check(text: string, got: any, want: any, line: number): void {
  const sub = (g: any, w: any): boolean =>
    w !== null && typeof w === "object" && g !== null && typeof g === "object"
      ? Object.keys(w).every((k) => sub(g[k], w[k]))
      : Object.is(g, w);
  __assert.ok(sub(got, want), `line ${line}: ${text} is ${JSON.stringify(got)}, the README says ${JSON.stringify(want)}`);
}
"""


def _ts_program(bodies) -> str:
    imports, code = [], []
    for body, line in bodies:
        lines = body.splitlines()
        i = 0
        while i < len(lines):
            ln = lines[i]
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            m = re.match(r"^(\S.*?);\s*// -> (.*)$", ln)
            m2 = re.match(r"^(\S.*?);\s*(//.*)?$", ln) if nxt.startswith("// -> ") else None
            if ln.startswith("import "):
                if ln not in imports:
                    imports.append(ln)
            elif m:
                code.append(
                    f"__check({json.dumps(m.group(1))}, {m.group(1)}, {m.group(2)}, {line + i + 1});"
                )
            elif m2:
                want = nxt[len("// -> ") :]
                code.append(
                    f"__check({json.dumps(m2.group(1))}, {m2.group(1)}, {want}, {line + i + 1});"
                )
                i += 1
            else:
                code.append(ln)
            i += 1
        code.append(
            f'if (__errors.length) throw new Error("block at line {line}: an evaluation answered an error: " + __errors.join("; "));'
        )
    code.append("await __OF.close();\nprocess.exit(0);")
    return "\n".join(imports) + "\n" + TS_PREAMBLE + "\n".join(code) + "\n"


def test_readme_typescript_blocks(fresh):
    bodies = [(b, ln) for lang, b, ln in blocks("clients/node/README.md") if kind(lang, b) == "ts"]
    assert bodies
    source = _ts_program(bodies).replace("6379", str(fresh.port))
    if not (NODE / "node_modules" / "typescript").exists() or not (NODE / "dist").exists():
        if os.environ.get("CI"):
            pytest.fail("clients/node is not built (make node)")
        pytest.skip("SKIPPED: clients/node is not built (make node)")
    out = NODE / "build" / "readme"
    out.mkdir(parents=True, exist_ok=True)
    (out / "readme.ts").write_text(source)
    # The types stripped by the package's own TypeScript.
    transpile = (
        "const ts = require('typescript'); const fs = require('fs');"
        "const src = fs.readFileSync(process.argv[1], 'utf8');"
        "const r = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext,"
        " target: ts.ScriptTarget.ES2022 } });"
        "fs.writeFileSync(process.argv[2], r.outputText);"
    )
    subprocess.run(
        ["node", "-e", transpile, str(out / "readme.ts"), str(out / "readme.mjs")],
        cwd=NODE, check=True, timeout=120,
    )  # fmt: skip
    proc = subprocess.run(
        ["node", str(out / "readme.mjs")], cwd=NODE, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
