#!/usr/bin/env python3
"""Writes llama.cpp's reference numerics for one real model into tests/reference/<model>/:

  tokenize.json  token ids (BOS as the model adds it, special tokens parsed) of a varied string set
  greedy.json    (SmolLM2) the first greedy tokens of chat-templated questions, the prompt
                 rendered by llama-server's own Jinja renderer (/apply-template). Gemma 3's greedy
                 reference is tests/reference/gemma3/server_t1.json, made earlier (its README).

It starts llama.cpp's llama-server (scripts/llama-cpp.sh's build) on 127.0.0.1 with one thread and
asks it over HTTP. Run from the repository root:

  python3 scripts/reference/llama-reference.py --model smollm2 [--bin DIR]
  python3 scripts/reference/llama-reference.py --model gemma3

CI never runs this: the fixtures are committed.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = {
    "smollm2": "smollm2-135m-instruct-q4_1.gguf",
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
}
STRINGS = [
    "Hello world",
    "The capital of France is",
    " leading space and  two  spaces",
    "Whitespace runs:\n\n\n\t\t  end   ",
    "Numbers: 3.14159, 1,000,000 and 2026-12-03; 12345678901234567890",
    "def add(a, b):\n    return a + b  # sum\n",
    "for (int i = 0; i < n; ++i) { x[i] = y[i] * 2; }",
    "Emoji: 😀🎉👍🏽 — and ümlauts, café, naïve",
    "Hindi: प्रकाश संश्लेषण क्या है?",
    "Chinese: 光合作用是什么？天空为什么是蓝色的？",
    "Spanish: ¿Por qué el cielo es azul?",
    "don't won't it's I'm we'll they've",
    "<|im_start|>user\nWhy is the sky blue?<|im_end|>\n<|im_start|>assistant\n",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
    "UPPER lower MiXeD CamelCaseWords snake_case_words",
    "https://example.org/path?q=1&r=two#frag",
]
QUESTIONS = [
    "Why is the sky blue?",
    "What is photosynthesis?",
    "What is 12 times 7?",
    "Explain what a prime number is.",
    "Who wrote Romeo and Juliet?",
    "How do I reverse a list in Python?",
    "What is the capital of Japan?",
    "Why do we have seasons?",
]
N_PREDICT = 32


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def bin_dir(arg):
    if arg:
        return arg
    out = subprocess.run([os.path.join(ROOT, "scripts/llama-cpp.sh"), "--version", "0.3.36"], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def start_server(bindir, model, port):
    cmd = [os.path.join(bindir, "llama-server"), "-m", model, "--host", "127.0.0.1", "--port", str(port),
           "-t", "1", "-tb", "1", "-c", "4096", "--jinja", "--no-webui", "-np", "1"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return p
        except Exception:
            if p.poll() is not None:
                sys.exit(f"llama-server exited: {p.stderr.read()[-2000:]}")
        time.sleep(0.5)
    p.kill()
    sys.exit("llama-server did not become healthy")


def tokenize(port, text):
    return post(port, "/tokenize", {"content": text, "add_special": True, "parse_special": True})["tokens"]


def greedy(port, prompt):
    r = post(port, "/completion", {"prompt": prompt, "n_predict": N_PREDICT, "temperature": 0, "top_k": 1,
                                   "seed": 0, "cache_prompt": False, "return_tokens": True})
    return r["tokens"], r["content"], r.get("stop_type")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(MODELS), required=True)
    ap.add_argument("--bin", help="llama.cpp bin dir (default: scripts/llama-cpp.sh --version 0.3.36)")
    a = ap.parse_args()
    model = os.path.join(ROOT, "models/cache", MODELS[a.model])
    out = os.path.join(ROOT, "tests/reference", a.model)
    os.makedirs(out, exist_ok=True)
    port = free_port()
    server = start_server(bin_dir(a.bin), model, port)
    try:
        toks = [{"text": s, "ids": tokenize(port, s)} for s in STRINGS]
        with open(os.path.join(out, "tokenize.json"), "w") as f:
            json.dump({"source": "llama-server /tokenize (add_special, parse_special), llama-cpp-python 0.3.36", "cases": toks}, f, ensure_ascii=False, indent=1)
        print(f"wrote {out}/tokenize.json ({len(toks)} strings)")
        if a.model != "smollm2":
            return
        cases = []
        for q in QUESTIONS:
            messages = [{"role": "user", "content": q}]
            prompt = post(port, "/apply-template", {"messages": messages})["prompt"]
            ids, text, stop = greedy(port, prompt)
            cases.append({"messages": messages, "prompt": prompt, "prompt_ids": tokenize(port, prompt), "gen_ids": ids, "text": text, "stop_type": stop})
        with open(os.path.join(out, "greedy.json"), "w") as f:
            json.dump({"source": f"llama-server /completion temperature 0, n_predict {N_PREDICT}, 1 thread, -c 4096, llama-cpp-python 0.3.36",
                       "cases": cases}, f, ensure_ascii=False, indent=1)
        print(f"wrote {out}/greedy.json ({len(cases)} prompts)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
