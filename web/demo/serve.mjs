// Serve the demo on http://127.0.0.1:8080/demo/ with the real models, sharded by `tutor-models shard`:
// SmolLM2-135M-Instruct (the demo's default) at /models/smollm2/, Gemma 3 270M at /models/gemma/
// (open /demo/?model=/models/gemma/manifest.json for it).
// Usage (after web/build.sh): node web/demo/serve.mjs [port]
import { WEB, shardedModel, smollm2Model } from '../test/browser.mjs';
import { startServer } from '../test/server.mjs';

const smol = smollm2Model();
const gemma = shardedModel();
const srv = await startServer({ root: WEB, mounts: { '/models/smollm2/': smol.dir, '/models/gemma/': gemma.dir }, port: Number(process.argv[2] ?? 8080) });
for (const { manifest } of [smol, gemma]) console.log(`model ${manifest.model}@${manifest.version}, ${manifest.shards.length} shards`);
console.log(`demo: ${srv.url}/demo/  (Ctrl-C stops)`);
