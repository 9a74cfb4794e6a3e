#!/usr/bin/env python3
"""Native side-by-side benchmark: tutor-runtime (`tutor bench`) against llama.cpp on the same GGUF,
the same threads, interleaved pair by pair, plus the machine's memory bandwidth and the GPU
backend on whatever adapter wgpu finds. Prints one JSON document (scripts/bench/report.py turns it
into BENCHMARKS.md).

For each thread count and each rep, one pair is measured back to back (the order alternates):
  ours:   `tutor bench --reps 1 --warmup 1` in a fresh process: prompt tok/s (PP tokens), generation
          tok/s (TG tokens), time to first token (prefill of PP tokens + the first token), load time,
          peak RSS (VmHWM).
  theirs: `llama-bench -p PP -n TG -r 1` (prompt and generation tok/s, llama-bench's own warm-up),
          and `llama-server --no-warmup` for load time (spawn → /health ready), time to first token
          (/completion with the same PP token ids and n_predict 1, after one short warm-up request)
          and peak RSS (VmHWM of the server process).
Ratios are ours/theirs per pair, then the median over pairs.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request


def run_json(cmd):
    # `tutor bench|bandwidth` and `llama-bench -o json` print only JSON on stdout.
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def prompt_ids(n, vocab):
    # The ids `tutor bench` uses (crate/src/bin/bench/mod.rs), for the vocabulary it reports.
    return [2 if i == 0 else 1000 + (i * 7919) % (vocab - 2000) for i in range(n)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def post(url, body, timeout=120):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def ours(a, threads):
    return run_json([a.tutor, "bench", "--model", a.model, "--threads", str(threads), "--reps", "1", "--warmup", "1",
                     "--ctx", str(a.ctx), "--prompt-tokens", str(a.pp), "--gen-tokens", str(a.tg)])


def llama_bench(a, threads):
    rows = run_json([os.path.join(a.llama_bin, "llama-bench"), "-m", a.model, "-p", str(a.pp), "-n", str(a.tg),
                     "-t", str(threads), "-r", "1", "-o", "json"])
    pp = next(r for r in rows if r["n_prompt"] > 0)
    tg = next(r for r in rows if r["n_gen"] > 0)
    return {"prompt_tok_s": pp["avg_ts"], "gen_tok_s": tg["avg_ts"], "build_commit": pp["build_commit"],
            "model_size": pp["model_size"]}


def llama_server(a, threads):
    port = free_port()
    t0 = time.monotonic()
    p = subprocess.Popen([os.path.join(a.llama_bin, "llama-server"), "-m", a.model, "-t", str(threads), "-tb", str(threads),
                          "--host", "127.0.0.1", "--port", str(port), "--no-warmup", "-c", str(a.ctx), "-np", "1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if p.poll() is not None:
                raise RuntimeError(f"llama-server exited with {p.returncode}")
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.005)
            if time.monotonic() - t0 > 120:
                raise RuntimeError("llama-server did not become ready in 120 s")
        load_s = time.monotonic() - t0
        ids = prompt_ids(a.pp, a.vocab)
        post(base + "/completion", {"prompt": ids[:16], "n_predict": 2, "cache_prompt": False, "temperature": 0})
        t1 = time.monotonic()
        r = post(base + "/completion", {"prompt": ids, "n_predict": 1, "cache_prompt": False, "temperature": 0})
        ttft = time.monotonic() - t1
        if r.get("tokens_evaluated") != a.pp:
            raise RuntimeError(f"llama-server evaluated {r.get('tokens_evaluated')} prompt tokens, not {a.pp}")
        return {"load_s": load_s, "ttft_s": ttft, "peak_rss_bytes": vm_hwm(p.pid)}
    finally:
        p.terminate()
        p.wait()


def med(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def summary(xs):
    xs = [x for x in xs if x is not None]
    return {"median": med(xs), "min": min(xs), "max": max(xs)} if xs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tutor", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--llama-bin", default="")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--pp", type=int, default=128)
    ap.add_argument("--tg", type=int, default=64)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--gpu-pp", type=int, default=32)
    ap.add_argument("--gpu-tg", type=int, default=8)
    ap.add_argument("--no-gpu", action="store_true")
    a = ap.parse_args()
    have_llama = bool(a.llama_bin) and os.access(os.path.join(a.llama_bin, "llama-bench"), os.X_OK)
    out = {"pp": a.pp, "tg": a.tg, "ctx": a.ctx, "reps": a.reps, "llama_cpp": None, "threads": {}, "bandwidth": {}, "gpu": None}
    if have_llama:
        out["llama_cpp"] = {"bin": a.llama_bin, "version": os.path.basename(os.path.dirname(a.llama_bin.rstrip("/")))}
    a.vocab = None  # from the first `tutor bench` (each thread count's first pair runs ours first)
    for t in [int(x) for x in a.threads.split(",")]:
        pairs = []
        for i in range(a.reps):
            pair = {"load_avg": open("/proc/loadavg").read().split()[0]}
            order = ["ours", "theirs"] if i % 2 == 0 else ["theirs", "ours"]
            for side in order:
                if side == "ours":
                    pair["ours"] = ours(a, t)
                    a.vocab = pair["ours"]["vocab_size"]
                elif have_llama:
                    pair["theirs"] = {**llama_bench(a, t), **llama_server(a, t)}
            pairs.append(pair)
            o, th = pair["ours"], pair.get("theirs")
            msg = f"threads {t} rep {i + 1}: ours {o['prompt_tok_s']:.0f} / {o['gen_tok_s']:.1f} tok/s"
            if th:
                msg += f", llama.cpp {th['prompt_tok_s']:.0f} / {th['gen_tok_s']:.1f} tok/s"
            print(msg, file=sys.stderr)
        row = {"pairs": pairs, "ours": {}, "theirs": {}, "ratio": {}}
        for k in ["prompt_tok_s", "gen_tok_s", "ttft_s", "load_s", "peak_rss_bytes"]:
            row["ours"][k] = summary([p["ours"].get(k) for p in pairs])
            if have_llama:
                row["theirs"][k] = summary([p["theirs"].get(k) for p in pairs])
                row["ratio"][k] = summary([p["ours"][k] / p["theirs"][k] for p in pairs if p["ours"].get(k) and p["theirs"].get(k)])
        row["weight_bytes_per_token"] = pairs[0]["ours"]["weight_bytes_per_token"]
        out["threads"][t] = row
        if have_llama:
            out["llama_cpp"]["build_commit"] = pairs[0]["theirs"]["build_commit"]
        out["bandwidth"][t] = run_json([a.tutor, "bandwidth", "--threads", str(t), "--reps", "5" if a.reps > 1 else "2"])
    if not a.no_gpu:
        try:
            out["gpu"] = run_json([a.tutor, "bench", "--model", a.model, "--backend", "gpu", "--reps", "1", "--warmup", "0",
                                   "--prompt-tokens", str(a.gpu_pp), "--gen-tokens", str(a.gpu_tg)])
        except (subprocess.CalledProcessError, ValueError) as e:
            out["gpu"] = {"error": str(e)[:300]}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
