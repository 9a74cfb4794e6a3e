// A minimal OpenAI-compatible streaming endpoint (POST /v1/chat/completions, SSE) on 127.0.0.1,
// standing in for the gateway server in the tests that need the page to fall back to a server.
// It streams the words of a fixed answer; the real gateway lives in server/. `failFirst`: answer
// that many requests 503 first (a busy upstream); `cutAfter`: end the stream after that many
// words, without a finish or [DONE] (a connection cut mid-answer). `replay`: send this recorded
// SSE body instead (tests/reference/escalate/), with `cutAfter` counting its events.
import http from 'node:http';

export async function startGateway(answer = 'Two plus two is four.', { failFirst = 0, cutAfter = null, replay = null } = {}) {
  const requests = [];
  let failures = failFirst;
  const server = http.createServer((req, res) => {
    const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Headers': 'content-type, accept', 'Access-Control-Allow-Methods': 'POST, OPTIONS' };
    if (req.method === 'OPTIONS') return res.writeHead(204, cors).end();
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return res.writeHead(404, cors).end();
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const j = JSON.parse(body);
      requests.push(j);
      if (failures > 0) {
        failures--;
        return res.writeHead(503, { ...cors, 'Content-Type': 'application/json' }).end('{"error":{"message":"upstream busy"}}');
      }
      res.writeHead(200, { ...cors, 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      if (replay !== null) {
        const events = replay.split(/(?<=\n\n)/);
        return res.end((cutAfter === null ? events : events.slice(0, cutAfter)).join(''));
      }
      const words = answer.split(/(?= )/);
      const base = { id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 0, model: j.model };
      const sent = cutAfter === null ? words : words.slice(0, cutAfter);
      sent.forEach((w, i) => res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: i ? { content: w } : { role: 'assistant', content: w }, finish_reason: null }] })}\n\n`));
      if (cutAfter !== null) return res.end();
      res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
      res.write(`data: ${JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: 7, completion_tokens: words.length, total_tokens: 7 + words.length } })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, requests, close: () => new Promise((r) => server.close(r)) };
}
