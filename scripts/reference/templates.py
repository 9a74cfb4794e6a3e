#!/usr/bin/env python3
"""Renders chat templates with llama.cpp's llama-server (/apply-template) into JSON fixtures.

Called by templates.sh (see there). Standard library only: the reference is llama.cpp itself.
"""
import argparse
import datetime
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SYSTEM = "You are a patient tutor. Answer in two sentences."
CASES = [
    ("user", [("user", "Why is the sky blue?")]),
    ("system_user", [("system", SYSTEM), ("user", "What is 7 times 8?")]),
    ("multi_turn", [
        ("system", SYSTEM),
        ("user", "What is a prime number?"),
        ("assistant", "A prime number has exactly two divisors: 1 and itself. 7 is prime."),
        ("user", "Is 1 prime?"),
    ]),
    ("no_system", [
        ("user", "Name a noble gas."),
        ("assistant", "Neon."),
        ("user", "  And another one?\n"),
    ]),
]
SMOLLM2 = "smollm2-135m-instruct-q4_1.gguf"
GEMMA = "gemma-3-270m-q4_k_m.gguf"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class Server:
    def __init__(self, exe, model, template):
        self.port = free_port()
        args = [exe, "--jinja", "-m", model, "--host", "127.0.0.1", "--port", str(self.port),
                "-c", "512", "-t", "1", "--no-warmup", "--log-disable"]
        if template:
            args += ["--chat-template-file", template]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self):
        """True once /health answers 200; False when the server exited (template rejected)."""
        for _ in range(1200):
            if self.proc.poll() is not None:
                return False
            try:
                if call(self.port, "/health")[0] == 200:
                    return True
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError("llama-server did not start")

    def log_tail(self):
        self.log.seek(0)
        lines = [l for l in self.log.read().decode(errors="replace").splitlines() if "error" in l.lower()]
        return "\n".join(lines[-3:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


def vocab(port):
    _, props = call(port, "/props")
    bos, eos = props["bos_token"], props["eos_token"]
    _, tok = call(port, "/tokenize", {"content": "a", "add_special": True, "with_pieces": True})
    add_bos = bool(tok["tokens"]) and tok["tokens"][0]["piece"] == bos and bos != ""
    caps = props["chat_template_caps"]
    caps = {k: caps[k] for k in ("supports_system_role", "supports_string_content", "supports_typed_content")}
    return bos, eos, add_bos, caps, props.get("chat_template", "")


def apply(port, messages, kwargs=None):
    body = {"messages": messages}
    if kwargs is not None:
        body["chat_template_kwargs"] = kwargs
    status, out = call(port, "/apply-template", body)
    return ("prompt", out["prompt"]) if status == 200 else ("error", out.get("error", {}).get("message", str(out)))


def default_thinking(port, rendered):
    """The enable_thinking value llama-server used by default (it decides per template):
    the one whose explicit renderings equal the default ones; None when it makes no difference."""
    same = {}
    for flag in (True, False):
        same[flag] = all(apply(port, msgs, {"enable_thinking": flag}) == r for msgs, r in rendered)
    if same[True] and same[False]:
        return None
    if same[True] == same[False]:
        raise RuntimeError("neither enable_thinking value reproduces the default rendering")
    return same[True]


def render_all(exe, model, template):
    srv = Server(exe, model, template)
    try:
        if not srv.wait():
            return {"load_error": srv.log_tail()}
        bos, eos, add_bos, caps, effective = vocab(srv.port)
        cases, rendered = [], []
        for name, msgs in CASES:
            messages = [{"role": r, "content": c} for r, c in msgs]
            kind, text = apply(srv.port, messages)
            rendered.append((messages, (kind, text)))
            cases.append({"name": name, "messages": messages, "add_generation_prompt": True, kind: text})
        return {"bos": bos, "eos": eos, "add_bos": add_bos, "caps": caps,
                "enable_thinking": default_thinking(srv.port, rendered), "cases": cases, "_template": effective}
    finally:
        srv.stop()


def fixture(name, source, provenance, renders, date):
    return {
        "template": name,
        "provenance": provenance,
        "sha256": hashlib.sha256(source.encode()).hexdigest(),
        "date": date,
        "source": source,
        "renders": renders,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--templates", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--llama-version", required=True)
    ap.add_argument("--only", default="", help="render only template files containing this")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    date = datetime.date.today().isoformat()
    smol, gemma = os.path.join(a.models, SMOLLM2), os.path.join(a.models, GEMMA)
    sdist = f"llama-cpp-python {a.llama_version} sdist, vendor/llama.cpp/models/templates/"

    jobs = []
    for f in sorted(os.listdir(a.templates)):
        if f.endswith(".jinja") and a.only in f:
            path = os.path.join(a.templates, f)
            with open(path, encoding="utf-8") as fh:
                jobs.append((f[: -len(".jinja")], fh.read(), sdist + f, path))

    # The real models' own templates: llama-server reports the one it loaded from the GGUF.
    if not a.only:
        own = render_all(a.server, smol, None)
        src = own.pop("_template")
        own["model"] = SMOLLM2
        write(a.out, "model-smollm2-135m-instruct", fixture(
            "model-smollm2-135m-instruct", src, f"tokenizer.chat_template of models/cache/{SMOLLM2}", [own], date))

    for name, src, prov, path in jobs:
        t0 = time.time()
        renders = []
        models = [smol] + ([gemma] if "bos_token" in src else [])
        for m in models:
            r = render_all(a.server, m, path)
            r.pop("_template", None)
            r["model"] = os.path.basename(m)
            renders.append(r)
        write(a.out, name, fixture(name, src, prov, renders, date))
        print(f"{name}: {time.time() - t0:.1f} s", file=sys.stderr)

    if datetime.date.today().isoformat() != date:
        sys.exit("the date changed while rendering: run again")


def write(out, name, fx):
    with open(os.path.join(out, name + ".json"), "w", encoding="utf-8") as fh:
        json.dump(fx, fh, ensure_ascii=False, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
