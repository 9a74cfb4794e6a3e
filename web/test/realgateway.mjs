// Start the real `tutor-gateway` binary (server/) on 127.0.0.1 with its embedded engine on the
// real model (Gemma 3 270M unless `model` names another), the test page's origin in its CORS allowlist; read its Prometheus /metrics.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { MODEL, ROOT } from './browser.mjs';

export async function startRealGateway({ origin, threads = 1, model = MODEL }) {
  const bin = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'release/tutor-gateway');
  if (!existsSync(bin)) execFileSync('cargo', ['build', '--release', '-p', 'tutor-gateway'], { cwd: ROOT, stdio: 'inherit' });
  const child = spawn(bin, ['--listen', '127.0.0.1:0', '--quiet'], {
    cwd: ROOT,
    env: { ...process.env, TUTOR_GATEWAY_MODEL: model, TUTOR_GATEWAY_THREADS: String(threads), TUTOR_GATEWAY_ALLOWED_ORIGINS: origin },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`tutor-gateway did not start in 120 s: ${stderr}`)), 120_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /tutor-gateway listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ''));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tutor-gateway exited with ${code}: ${stderr}`));
    });
  });
  const exited = new Promise((r) => child.on('exit', r));
  return {
    url,
    /** Prometheus text of /metrics. */
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    /** Answered chat-completion requests (the gateway's own count, from /metrics). */
    async completions() {
      const text = await this.metrics();
      let n = 0;
      for (const m of text.matchAll(/^tutor_gateway_requests_total\{([^}]*)\} (\d+(?:\.\d+)?)$/gm)) if (m[1].includes('/v1/chat/completions')) n += Number(m[2]);
      return n;
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}
