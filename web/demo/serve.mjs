// Serve the demo on http://127.0.0.1:8080/demo/ with the real model, sharded by `tutor-models shard`.
// Usage (after web/build.sh): node web/demo/serve.mjs [port]
import { WEB, shardedModel } from '../test/browser.mjs';
import { startServer } from '../test/server.mjs';

const { dir, manifest } = shardedModel();
const srv = await startServer({ root: WEB, mounts: { '/models/gemma/': dir }, port: Number(process.argv[2] ?? 8080) });
console.log(`demo: ${srv.url}/demo/  (model ${manifest.model}@${manifest.version}, ${manifest.shards.length} shards; Ctrl-C stops)`);
