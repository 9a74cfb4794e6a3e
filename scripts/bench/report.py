#!/usr/bin/env python3
"""BENCHMARKS.md from scripts/bench/native.py's and web/bench/bench.mjs's JSON, one pair per model.

  report.py --model LABEL NATIVE.json WEB.json|- FILE_BYTES [--model ...] --out BENCHMARKS.md --machine "..." --versions "..."

Sections after the kept-sections marker in the old file (measured elsewhere, e.g. on a lent GPU)
are carried over, except the ones this report regenerates.
"""
import argparse
import datetime
import json

MARKER = "<!-- sections below are kept by ./build.sh bench -->"
# Older hand-run sections that this report now regenerates (dropped from the kept part).
SUPERSEDED = ("## GPU forward pass on llvmpipe", "## Web package in headless Chromium",
              "## SmolLM2's Q4_1 on the CPU: candle's scalar dot product against ours")
# The figures issue 7 measured on this machine kind (Gemma 3 270M), for comparison with this run.
ANCHORS = {"llama.cpp": {1: (418, 55.5), 2: (700, 76)}, "wllama": {1: (18.0, 7.3), 2: (33.7, 13.1)}, "bandwidth_1t": 21.0}


def f(x, d=1):
    return "n/a" if x is None else f"{x:.{d}f}"


def mmm(s, d=1, scale=1.0):
    """median (min–max)"""
    if not s:
        return "n/a"
    m, lo, hi = (s[k] * scale for k in ("median", "min", "max"))
    return f"{m:.{d}f} ({lo:.{d}f}–{hi:.{d}f})" if hi - lo > 10 ** -d else f"{m:.{d}f}"


def ratio(s):
    if not s:
        return "n/a"
    return f"**{s['median']:.2f}×** ({s['min']:.2f}–{s['max']:.2f})" if s["max"] - s["min"] >= 0.005 else f"**{s['median']:.2f}×**"


def weight_bytes(n):
    return next((row["weight_bytes_per_token"] for row in n["threads"].values() if row.get("weight_bytes_per_token")), None)


def native_sections(n, label):
    L = []
    have = n.get("llama_cpp") is not None
    L += [
        f"## {label}: native CPU, tutor-runtime against llama.cpp",
        "",
        f"Same GGUF, same threads, {n['reps']} pairs per thread count run back to back (order alternating); prompt of {n['pp']} tokens "
        f"(the same token ids for both), {n['tg']} generated tokens, context {n['ctx']}. Median (min–max). "
        "Ours: `tutor bench` (one process per pair, one warm-up). llama.cpp: `llama-bench -r 1` for tokens/s; `llama-server --no-warmup` "
        "for load (spawn → ready), time to first token (the same prompt ids, `n_predict` 1, after one short warm-up request) and peak RSS "
        "(VmHWM; llama.cpp maps the file, we read it into memory — both count as resident).",
        "",
    ]
    if not have:
        L += ["llama.cpp was not built on this machine (`scripts/llama-cpp.sh`), so only our rows are measured.", ""]
    L += ["| threads | engine | prompt tok/s | gen tok/s | time to first token | load | peak RSS |", "|---|---|---|---|---|---|---|"]
    for t, row in n["threads"].items():
        for who, name in [("ours", "**tutor-runtime**"), ("theirs", "llama.cpp")]:
            s = row.get(who) or {}
            if not s:
                continue
            L.append(f"| {t} | {name} | {mmm(s.get('prompt_tok_s'), 0)} | {mmm(s.get('gen_tok_s'))} | {mmm(s.get('ttft_s'), 0, 1000)} ms | "
                     f"{mmm(s.get('load_s'), 2)} s | {mmm(s.get('peak_rss_bytes'), 0, 1e-6)} MB |")
    L.append("")
    return L


def ratio_table(runs):
    L = ["## Ratios: ours / theirs, pair by pair in this run", "",
         "Higher is better for tokens/s; lower is better for time to first token, load and memory. Each ratio is the median over the pairs "
         "of ours/theirs measured back to back (min–max over pairs).", "",
         "| model | where | threads | vs | prompt tok/s | gen tok/s | time to first token | load | peak memory |",
         "|---|---|---|---|---|---|---|---|---|"]
    for label, n, w, _ in runs:
        if n.get("llama_cpp"):
            for t, row in n["threads"].items():
                r = row["ratio"]
                L.append(f"| {label} | native CPU | {t} | llama.cpp | {ratio(r.get('prompt_tok_s'))} | {ratio(r.get('gen_tok_s'))} | {ratio(r.get('ttft_s'))} | "
                         f"{ratio(r.get('load_s'))} | {ratio(r.get('peak_rss_bytes'))} |")
        if w:
            for t in ("1", "2"):
                x = w["wllama"].get(t) or {}
                if "ratio" not in x:
                    continue
                ft = w["ours"]["warmFirstTokenMs"] / x["warmFirstTokenMs"] if x.get("warmFirstTokenMs") else None
                note = " (ours: 1 thread)" if t == "2" else ""
                L.append(f"| {label} | Chromium, CPU (wasm) | {t}{note} | wllama | **{f(x['ratio'].get('promptTps'), 2)}×** | **{f(x['ratio'].get('genTps'), 2)}×** | "
                         f"{'**' + f(ft, 2) + '×** (page load, warm cache)' if ft else 'n/a'} | n/a | n/a |")
    L.append("")
    return L


def bandwidth_section(n, w, wb, label):
    L = [f"## {label}: the physical limit, memory bandwidth", "",
         f"Generating one token reads every weight once: {wb / 1e6:.1f} MB for this model (all tensors; a tied embedding table is read "
         "whole as the output head). The ceiling is bandwidth / bytes per token. Bandwidth: "
         "`tutor bandwidth` sums a 1 GiB buffer with N threads (best of 5 reads; median in brackets).", "",
         "| threads | read bandwidth GB/s | generation ceiling tok/s | tutor-runtime native | llama.cpp native | tutor-runtime in Chromium | wllama in Chromium |",
         "|---|---|---|---|---|---|---|"]
    for t, b in n["bandwidth"].items():
        bw = b["read_gb_s_best"]
        ceil = bw * 1e9 / wb
        row = n["threads"].get(t) or n["threads"].get(int(t)) or {}

        def frac(g):
            return "n/a" if not g else f"{g:.1f} tok/s = {100 * g / ceil:.0f}%"

        ours = (row.get("ours") or {}).get("gen_tok_s")
        theirs = (row.get("theirs") or {}).get("gen_tok_s")
        wo = w["ours"]["genTps"] if w else None
        ww = (w["wllama"].get(str(t)) or {}).get("genTps") if w else None
        L.append(f"| {t} | {bw:.1f} ({b['read_gb_s_median']:.1f}) | {ceil:.0f} | {frac(ours and ours['median'])} | {frac(theirs and theirs['median'])} | "
                 f"{frac(wo) + (' (1 thread)' if str(t) == '2' and wo else '')} | {frac(ww)} |")
    L.append("")
    return L


def web_section(w, label):
    o = w["ours"]
    w1 = w["wllama"].get("1") or {}
    w2 = w["wllama"].get("2") or {}
    g = w.get("oursGpu") or {}
    loads = [x.get("load") for x in o["gen"]] + [r.get("load") for r in w1.get("runs", [])]
    L = [f"## {label}: in the browser, tutor-runtime against @wllama/wllama (headless Chromium)", "",
         f"Chromium {w['chromium']} headless (playwright-core), the same model served from 127.0.0.1: ours as 32 MiB shards from IndexedDB, "
         f"{w.get('wllamaVersion', '@wllama/wllama')} from the GGUF file. {w['reps']} interleaved reps (ours, wllama 1 thread, wllama 2 threads on a "
         f"COOP/COEP page), greedy, a {o['promptTokens']}-token prompt, {w['genTokens']} generated tokens; median (min–max). Ours is measured from "
         "the streamed chunks (prefill + first token, then the rest), wllama from llama.cpp's own timings. Our wasm engine is single-threaded "
         f"(no wasm threads yet), so it runs 1 thread on both pages. 1-minute load average during the reps: {', '.join(x for x in loads if x)}.", "",
         "| engine | threads | prompt tok/s | gen tok/s | page load → first token (warm cache) |", "|---|---|---|---|---|"]
    L.append(f"| **tutor-runtime**, CPU (wasm) | 1 | **{f(o['promptTps'])}** ({f(o['promptTpsRange'][0])}–{f(o['promptTpsRange'][1])}) | "
             f"**{f(o['genTps'])}** ({f(o['genTpsRange'][0])}–{f(o['genTpsRange'][1])}) | **{o['warmFirstTokenMs'] / 1000:.2f} s** |")
    for t, x in (("1", w1), ("2", w2)):
        if "error" in x or not x:
            L.append(f"| @wllama/wllama | {t} | failed: {x.get('error', 'no runs')[:80]} | | |")
            continue
        pr, gr = x.get("promptTpsRange") or [None, None], x.get("genTpsRange") or [None, None]
        ft = f"{x['warmFirstTokenMs'] / 1000:.2f} s" if x.get("warmFirstTokenMs") else "n/a (1 rep)"
        L.append(f"| @wllama/wllama | {t} ({x.get('threadsUsed')} used) | {f(x['promptTps'])} ({f(pr[0])}–{f(pr[1])}) | {f(x['genTps'])} ({f(gr[0])}–{f(gr[1])}) | {ft} |")
    if g.get("skipped"):
        L.append(f"| tutor-runtime, WebGPU on SwiftShader | — | not run: {g['skipped']} | | |")
    elif g and "error" not in g:
        L.append(f"| tutor-runtime, WebGPU on {g.get('adapter') or 'SwiftShader'} (reference) | — | {f(g['gen']['promptTps'], 2)} | "
                 f"{f(g['gen']['genTps'], 2)} ({g['gen']['genTokens']} tokens; the first {g['gen'].get('tokensAgreeWithCpu', '?')} equal the CPU path's greedy tokens) | "
                 f"{g['warm']['firstTokenMs'] / 1000:.2f} s (backend: {g['backend']}) |")
    elif g:
        L.append(f"| tutor-runtime, WebGPU on SwiftShader | — | failed: {g['error'][:100]} | | |")
    L += ["",
          f"- Ours, page load → first token with a warm cache: {breakdown(o)}. First visit (downloads {(o.get('coldBytesFetched') or 0) / 2**20:.0f} MiB from 127.0.0.1): "
          f"{o['coldFirstTokenMs'] / 1000:.2f} s. Shard bytes fetched on warm loads: {o['warmShardBytesServed']}.",
          "- wllama's page load → first token counts from navigation to the first token of its first completion, with the file from its own "
          "browser cache (reps after the first).",
          "- The WebGPU row runs our WGSL kernels on SwiftShader, Chromium's CPU implementation of WebGPU (it spreads the work over all "
          "cores, while our wasm CPU path uses one): it shows function and relative cost, not GPU speed. `backend: 'auto'` still picks the "
          "CPU on software adapters: first token comes sooner, and a page should not occupy every core of a student's laptop.", ""]
    return L


def sizes_section(w):
    return ["## Package sizes", "",
            f"`.wasm` {w['wasm']['raw'] / 1e6:.2f} MB raw, {w['wasm']['gzip'] / 1e6:.2f} MB gzip -9 (no wasm-opt); npm package (`npm pack --dry-run`) "
            f"{w['npm']['size'] / 1024:.0f} KiB packed, {w['npm']['unpackedSize'] / 1024:.0f} KiB unpacked, {w['npm']['files']} files.", ""]


def breakdown(o):
    w = min(o["warm"], key=lambda x: abs(x["firstTokenMs"] - o["warmFirstTokenMs"]))
    ph = w.get("phases") or {}
    s = lambda a, b: f"{(b - a) / 1000:.2f}"
    if "verifying" not in ph or "loading-to-gpu" not in ph:
        return f"`Tutor.create` resolved at {w['readyMs'] / 1000:.2f} s"
    return (f"page, worker and manifest {s(0, ph['checking-cache'])} s, IndexedDB read of the shards {s(ph['verifying'], ph['loading-to-gpu'])} s, "
            f"engine load (tokenizer + weights, in wasm) {s(ph['loading-to-gpu'], w['readyMs'])} s, prefill of the framed question "
            f"({w['promptTokens']} tokens) + first token {s(w['readyMs'], w['firstTokenMs'])} s (median rep)")


def gpu_section(n, label):
    g = n.get("gpu")
    if not g:
        return []
    if "error" in g:
        return [f"## {label}: native GPU backend", "", f"`tutor bench --backend gpu` failed or found no adapter: {g['error']}", ""]
    return [f"## {label}: native GPU backend (`tutor bench --backend gpu`)", "",
            "| adapter | prompt tok/s | gen tok/s | time to first token | load | peak RSS |", "|---|---|---|---|---|---|",
            f"| {g['adapter']} | {g['prompt_tok_s']:.2f} ({g['prompt_tokens']} tokens) | {g['gen_tok_s']:.2f} ({g['gen_tokens']} tokens) | "
            f"{g['ttft_s']:.1f} s | {g['load_s']:.1f} s | {(g.get('peak_rss_bytes') or 0) / 1e6:.0f} MB |", "",
            "On a machine without a GPU the adapter is Mesa's llvmpipe (software Vulkan): the WGSL kernels run as JIT-compiled CPU code, so this "
            "row shows that the GPU path works end to end and what it costs without a GPU, not GPU speed. Peak RSS includes llvmpipe's "
            "\"device\" memory (weights and the KV cache). On a real GPU the bound is memory bandwidth over the bytes per token above.", ""]


def anchors_section(n, w):
    L = ["## Gemma 3 270M Q4_K_M against the figures issue 7 measured on this machine kind", "",
         "| figure | issue 7 | this run |", "|---|---|---|"]
    for t, (pp, tg) in ANCHORS["llama.cpp"].items():
        th = (n["threads"].get(str(t)) or n["threads"].get(t) or {}).get("theirs") or {}
        L.append(f"| llama.cpp, {t} thread(s): prompt / gen tok/s | {pp} / {tg} | {f((th.get('prompt_tok_s') or {}).get('median'), 0)} / {f((th.get('gen_tok_s') or {}).get('median'))} |")
    for t, (pp, tg) in ANCHORS["wllama"].items():
        x = (w or {}).get("wllama", {}).get(str(t)) or {}
        L.append(f"| wllama, {t} thread(s): prompt / gen tok/s | {pp} / {tg} | {f(x.get('promptTps'))} / {f(x.get('genTps'))} |")
    b = n["bandwidth"].get("1") or n["bandwidth"].get(1)
    L.append(f"| single-thread bandwidth GB/s | ≈ {ANCHORS['bandwidth_1t']} | {f(b and b['read_gb_s_best'])} (best), {f(b and b['read_gb_s_median'])} (median) |")
    L.append("")
    return L


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", nargs=4, action="append", required=True, metavar=("LABEL", "NATIVE_JSON", "WEB_JSON", "FILE_BYTES"),
                    help="one model's figures; WEB_JSON '-' when the browser was not measured")
    ap.add_argument("--out", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--versions", required=True)
    a = ap.parse_args()
    runs = [(label, json.load(open(nat)), json.load(open(web)) if web != "-" else None, int(size)) for label, nat, web, size in a.model]
    llama = next((n["llama_cpp"] for _, n, _, _ in runs if n.get("llama_cpp")), None)
    chromium = next((w["chromium"] for _, _, w, _ in runs if w), None)
    L = ["# Benchmarks", "",
         f"Generated by `./build.sh bench` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.", "",
         f"- Machine: {a.machine}.",
         f"- Versions: {a.versions}; " + (f"llama.cpp {llama.get('build_commit', '?')} (vendored by llama-cpp-python {llama['version']}, "
                                            "Release, CPU, GGML_NATIVE)" if llama else "llama.cpp not measured") +
         (f"; Chromium {chromium}" if chromium else "") + ".",
         "- Models, greedy: " + "; ".join(f"{label} ({size / 1e6:.1f} MB file, {weight_bytes(n) / 1e6:.1f} MB of weights read per generated token)"
                                        for label, n, _, size in runs) + ".",
         "- Speed targets live here, not in tests; CI runs `scripts/bench.sh --smoke` (one short repetition) so this command never rots.", ""]
    L += ratio_table(runs)
    for label, n, w, _ in runs:
        L += native_sections(n, label)
        L += bandwidth_section(n, w, weight_bytes(n), label)
        if w:
            L += web_section(w, label)
        L += gpu_section(n, label)
    web = next((w for _, _, w, _ in runs if w), None)
    if web:
        L += sizes_section(web)
    for label, n, w, _ in runs:
        if label.startswith("Gemma 3 270M"):
            L += anchors_section(n, w)
    try:
        old = open(a.out).read()
    except OSError:
        old = ""
    L += ["", MARKER, ""]
    if MARKER in old:
        kept = old[old.index(MARKER) + len(MARKER):].split("\n## ")
        kept = [("## " + s if i else s).strip() for i, s in enumerate(kept)]
        kept = [s for s in kept if s and not s.startswith(SUPERSEDED)]
        L += ["\n\n".join(kept), ""]
    open(a.out, "w").write("\n".join(L))


if __name__ == "__main__":
    main()
