// A tiny static server for the browser tests and the benchmark, on 127.0.0.1 only.
// Serves web/ (dist, demo, test pages) and mounts model directories under /models/<name>/.
// Supports Range requests, counts the bytes it sends per path (so tests check from the server
// side what the browser fetched), and can corrupt or throttle a file on demand.
import { createReadStream, promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Transform } from 'node:stream';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.png': 'image/png',
};

/**
 * @param {{ root: string, mounts?: Record<string, string>, isolate?: boolean, port?: number }} o
 *   root: directory served at /; mounts: URL prefix → directory; isolate: send COOP/COEP headers.
 */
export async function startServer(o) {
  const mounts = Object.entries(o.mounts ?? {});
  const stats = new Map(); // url path → { bytes, requests, ranges: [] }
  const corrupt = new Map(); // url path → responses left to corrupt (Infinity = always)
  const throttle = new Map(); // url path → bytes per second
  const stat = (p) => {
    if (!stats.has(p)) stats.set(p, { bytes: 0, requests: 0, ranges: [] });
    return stats.get(p);
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const p = decodeURIComponent(url.pathname);
    let file = null;
    for (const [prefix, dir] of mounts) if (p.startsWith(prefix)) file = path.join(dir, p.slice(prefix.length));
    file ??= path.join(o.root, p.endsWith('/') ? `${p}index.html` : p);
    const headers = { 'Cache-Control': 'no-cache', 'Accept-Ranges': 'bytes' };
    if (o.isolate) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      headers['Cross-Origin-Resource-Policy'] = 'same-origin';
    }
    let st;
    try {
      st = await fs.stat(file);
      if (!st.isFile()) throw new Error('not a file');
    } catch {
      res.writeHead(404, headers).end('not found');
      return;
    }
    headers['Content-Type'] = TYPES[path.extname(file)] ?? 'application/octet-stream';
    const s = stat(p);
    s.requests++;
    let start = 0;
    let end = st.size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (!m || Number(m[1]) >= st.size) {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${st.size}` }).end();
        return;
      }
      start = Number(m[1]);
      if (m[2]) end = Math.min(end, Number(m[2]));
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
      s.ranges.push(range);
    }
    headers['Content-Length'] = String(end - start + 1);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return res.end();

    let stream = createReadStream(file, { start, end, highWaterMark: 64 * 1024 });
    const left = corrupt.get(p) ?? 0;
    if (left > 0) {
      corrupt.set(p, left - 1);
      let flipped = false;
      stream = stream.pipe(
        new Transform({
          transform(chunk, _enc, cb) {
            if (!flipped) {
              chunk = Buffer.from(chunk);
              chunk[chunk.length >> 1] ^= 0xff; // one flipped byte: same size, wrong sha256
              flipped = true;
            }
            cb(null, chunk);
          },
        }),
      );
    }
    const bps = throttle.get(p);
    if (bps) {
      stream = stream.pipe(
        new Transform({
          transform(chunk, _enc, cb) {
            setTimeout(() => cb(null, chunk), (chunk.length / bps) * 1000);
          },
        }),
      );
    }
    stream.on('data', (c) => {
      s.bytes += c.length;
    });
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  });
  await new Promise((r) => server.listen(o.port ?? 0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    /** Bytes sent per path (only paths under `prefix` when given). */
    bytes(prefix = '/') {
      let n = 0;
      for (const [p, s] of stats) if (p.startsWith(prefix)) n += s.bytes;
      return n;
    },
    stat: (p) => stats.get(p) ?? { bytes: 0, requests: 0, ranges: [] },
    reset: () => stats.clear(),
    corrupt: (p, times = Infinity) => corrupt.set(p, times),
    throttle: (p, bytesPerSecond) => (bytesPerSecond ? throttle.set(p, bytesPerSecond) : throttle.delete(p)),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(r);
      }),
  };
}
