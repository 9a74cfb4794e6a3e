#!/usr/bin/env python3
"""A stand-in for a GGUF that is too large to carry: same header, same tensors, other values.

The lent GPU machine (see BENCHMARKS.md) takes at most 64 MiB per call and reaches no network,
so the 253 MB model cannot travel. `pack` keeps the real file's header verbatim (metadata,
vocabulary, tensor names, dtypes, shapes, offsets) and, per tensor, a pool of its first whole
quant blocks (up to --pool-kib). `unpack` writes a GGUF of the same size and layout whose
tensor data are blocks drawn at random (seeded) from that tensor's own pool: every block is a
valid block of the real model (finite scales), so the kernels do exactly the work they do on
the real model, but the answers mean nothing. Use it for speed, never for correctness.

  standin.py pack   REAL.gguf  OUT.pack  [--pool-kib 64]
  standin.py unpack OUT.pack   OUT.gguf  [--seed 1]
"""
import argparse
import json
import struct
import sys

# ggml type id → (elements per block, bytes per block)
BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
          10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 30: (1, 2)}
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


class Reader:
    def __init__(self, f):
        self.f = f

    def take(self, fmt):
        n = struct.calcsize(fmt)
        return struct.unpack("<" + fmt, self.f.read(n))[0]

    def string(self):
        return self.f.read(self.take("Q")).decode("utf-8", "replace")

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("I"), self.take("Q")
            if et in SCALAR:
                self.f.seek(SCALAR[et] * n, 1)
                return None
            return [self.value(et) for _ in range(n)]
        if t not in SCALAR:
            raise ValueError(f"unknown GGUF value type {t}")
        fmt = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "B", 10: "Q", 11: "q", 12: "d"}[t]
        return self.take(fmt)


def read_header(f):
    r = Reader(f)
    if f.read(4) != b"GGUF":
        raise ValueError("not a GGUF file")
    version, n_tensors, n_kv = r.take("I"), r.take("Q"), r.take("Q")
    alignment = 32
    for _ in range(n_kv):
        key, t = r.string(), r.take("I")
        v = r.value(t)
        if key == "general.alignment":
            alignment = v
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.take("Q") for _ in range(r.take("I"))]
        dtype, offset = r.take("I"), r.take("Q")
        if dtype not in BLOCKS:
            raise ValueError(f"{name}: ggml type {dtype} not handled")
        elems = 1
        for d in dims:
            elems *= d
        per, size = BLOCKS[dtype]
        tensors.append({"name": name, "dims": dims, "dtype": dtype, "offset": offset,
                        "block": size, "size": elems // per * size})
    data_start = -(-f.tell() // alignment) * alignment
    return version, tensors, data_start


def pack(a):
    with open(a.real, "rb") as f:
        _, tensors, data_start = read_header(f)
        f.seek(0)
        header = f.read(data_start)
        pools = []
        for t in tensors:
            n = min(t["size"], max(t["block"], a.pool_kib * 1024 // t["block"] * t["block"]))
            f.seek(data_start + t["offset"])
            pools.append(f.read(n))
            t["pool"] = n
    index = json.dumps({"data_start": data_start, "tensors": tensors}).encode()
    with open(a.out, "wb") as o:
        o.write(struct.pack("<QQ", len(index), len(header)))
        o.write(index)
        o.write(header)
        for p in pools:
            o.write(p)
    total = data_start + max(t["offset"] + t["size"] for t in tensors)
    print(f"{a.out}: {len(tensors)} tensors, header {data_start} B, stands in for {total} B", file=sys.stderr)


def unpack(a):
    import random
    rng = random.Random(a.seed)
    with open(a.pack, "rb") as p:
        n_index, n_header = struct.unpack("<QQ", p.read(16))
        index = json.loads(p.read(n_index))
        header = p.read(n_header)
        with open(a.out, "wb") as o:
            o.write(header)
            for t in index["tensors"]:
                pool, b = p.read(t["pool"]), t["block"]
                blocks = [pool[i:i + b] for i in range(0, len(pool), b)]
                n = t["size"] // b
                o.seek(index["data_start"] + t["offset"])
                if len(blocks) >= n:
                    o.write(pool[:t["size"]])
                else:
                    o.write(b"".join(blocks[rng.randrange(len(blocks))] for _ in range(n)))
    print(f"{a.out}: written", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("real")
    p.add_argument("out")
    p.add_argument("--pool-kib", type=int, default=64)
    u = sub.add_parser("unpack")
    u.add_argument("pack")
    u.add_argument("out")
    u.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    pack(a) if a.cmd == "pack" else unpack(a)


if __name__ == "__main__":
    main()
