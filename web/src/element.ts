/**
 * `<tutor-chat model="/models/smollm2/manifest.json" gateway="https://…">` — a drop-in chat:
 * one conversation (follow-up questions see the earlier turns; "New conversation" starts over),
 * download progress, streamed answers with a badge per answer (local or server, and why),
 * tokens/s and the running backend. With a gateway, Ask works from the first second: the
 * gateway answers while the model downloads beside the conversation. One script tag:
 * `<script type="module" src="…/tutor-runtime/dist/element.js"></script>`.
 * Events: `tutor-progress` (detail: Progress), `tutor-ready` (detail: Tutor; questions can be
 * asked), `tutor-model` (detail: LoadInfo or null, once the local model is loaded or failed),
 * `tutor-error`. The `model-state` attribute mirrors `Tutor.modelState`.
 */
import type { Progress } from './download.js';
import { TutorError } from './errors.js';
import type { TutorChunk } from './stream.js';
import { Tutor } from './tutor.js';

const PHASE_LABEL: Record<string, string> = {
  'checking-cache': 'Checking the saved model…',
  downloading: 'Downloading the tutor model (once)…',
  verifying: 'Checking the model files…',
  'loading-to-gpu': 'Loading the model…',
  compiling: 'Preparing…',
  ready: 'Ready',
};

const STYLE = `
:host { display: block; font: 15px/1.45 system-ui, sans-serif; color: #1d2330; max-width: 720px; border: 1px solid #d5dae3; border-radius: 12px; background: #fff; overflow: hidden; }
header { display: flex; justify-content: space-between; align-items: center; padding: 10px 14px; background: #f3f5f9; border-bottom: 1px solid #e3e7ee; }
header b { font-size: 16px; }
header .new { background: none; color: #2563eb; padding: 0 6px; font-size: 12px; }
.status { font-size: 12px; color: #4a5568; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.pill.cpu { background: #e6f0ff; color: #1c4fa0; } .pill.gpu { background: #e7f8ec; color: #1b6b34; } .pill.none { background: #eee; color: #555; }
.progress { padding: 10px 14px; border-bottom: 1px solid #e3e7ee; }
.progress[hidden] { display: none; }
.bar[hidden] { display: none; }
.bar { height: 8px; background: #e8ebf1; border-radius: 4px; overflow: hidden; margin-top: 6px; }
.bar > div { height: 100%; width: 0; background: linear-gradient(90deg, #3b82f6, #22c55e); transition: width .15s; }
.plabel { font-size: 13px; display: flex; justify-content: space-between; }
.log { padding: 12px 14px; min-height: 160px; max-height: 420px; overflow-y: auto; }
.msg { margin: 0 0 12px; }
.q { font-weight: 600; }
.q::before { content: "You: "; color: #6b7280; font-weight: 400; }
.a { white-space: pre-wrap; background: #f8fafc; border-radius: 8px; padding: 8px 10px; margin-top: 4px; }
.meta { margin-top: 4px; font-size: 12px; color: #4a5568; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.badge { padding: 1px 8px; border-radius: 999px; font-weight: 600; }
.badge.local { background: #e7f8ec; color: #1b6b34; } .badge.server { background: #fff4e0; color: #8a5200; }
.draft { color: #8a94a6; text-decoration: line-through; } .note { font-size: 12px; color: #8a5200; margin: 2px 0; }
.err { color: #b91c1c; font-size: 13px; }
form { display: flex; gap: 8px; padding: 10px 14px; border-top: 1px solid #e3e7ee; }
input { flex: 1; padding: 8px 10px; border: 1px solid #cbd2dc; border-radius: 8px; font: inherit; }
button { padding: 8px 14px; border-radius: 8px; border: 0; background: #2563eb; color: #fff; font: inherit; cursor: pointer; }
button[disabled] { background: #9db4e6; cursor: default; }
button.stop { background: #6b7280; }
`;

function mib(n: number): string {
  return (n / 1048576).toFixed(1);
}

export class TutorChatElement extends HTMLElement {
  tutor: Tutor | null = null;
  private root: ShadowRoot;
  private busy: AbortController | null = null;
  private started = false;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    this.root.innerHTML = `<style>${STYLE}</style>
<header><b part="title">Tutor</b><span class="status"><button type="button" class="new" id="new" hidden>New conversation</button> <span class="pill none" id="backend">starting</span></span></header>
<div class="progress" id="progress"><div class="plabel"><span id="plabel">Starting…</span><span id="pbytes"></span></div><div class="bar"><div id="pbar"></div></div></div>
<div class="log" id="log" aria-live="polite"></div>
<div class="err" id="err" style="padding:0 14px"></div>
<form id="form"><input id="q" autocomplete="off" placeholder="Ask a question…" disabled><button id="send" disabled>Ask</button><button type="button" class="stop" id="stop" hidden>Stop</button></form>`;
  }

  private $(id: string): HTMLElement {
    return this.root.getElementById(id) as HTMLElement;
  }

  connectedCallback(): void {
    if (this.started) return;
    this.started = true;
    (this.$('form') as HTMLFormElement).addEventListener('submit', (e) => {
      e.preventDefault();
      const input = this.$('q') as HTMLInputElement;
      const q = input.value.trim();
      if (q && !this.busy) {
        input.value = '';
        void this.ask(q);
      }
    });
    this.$('stop').addEventListener('click', () => this.busy?.abort());
    this.$('new').addEventListener('click', () => this.newConversation());
    void this.start();
  }

  disconnectedCallback(): void {
    this.busy?.abort();
  }

  private onProgress(p: Progress): void {
    this.$('progress').hidden = false;
    (this.$('plabel') as HTMLElement).textContent = PHASE_LABEL[p.phase] ?? p.phase;
    this.$('pbytes').textContent = `${mib(p.bytesDone)} / ${mib(p.bytesTotal)} MiB`;
    this.$('pbar').style.width = `${p.bytesTotal ? Math.min(100, (100 * p.bytesDone) / p.bytesTotal) : 0}%`;
    this.dispatchEvent(new CustomEvent('tutor-progress', { detail: p }));
  }

  /** Forget the conversation (the next question starts afresh) and clear the log. */
  newConversation(): void {
    this.busy?.abort();
    this.tutor?.newConversation();
    this.$('log').replaceChildren();
    this.$('new').hidden = true;
  }

  private async start(): Promise<void> {
    const model = this.getAttribute('model') ?? undefined;
    const gateway = this.getAttribute('gateway') ?? undefined;
    const workerUrl = this.getAttribute('worker') ?? undefined;
    // The page's language (the nearest `lang` attribute) drives the policy's language rules.
    const lang = this.closest('[lang]')?.getAttribute('lang') || undefined;
    try {
      // `policy`: URL of a route policy JSON (`tutor eval`'s policy.json); default: the calibrated one.
      const policyUrl = this.getAttribute('policy');
      const policy = policyUrl ? await fetchPolicy(policyUrl) : undefined;
      this.tutor = await Tutor.create({ model, gateway, workerUrl, lang, policy, onProgress: (p) => this.onProgress(p) });
    } catch (e) {
      this.$('err').textContent = `The tutor could not start: ${(e as Error).message}`;
      this.$('progress').hidden = true;
      this.$('backend').textContent = 'unavailable';
      this.dispatchEvent(new CustomEvent('tutor-error', { detail: e }));
      return;
    }
    const t = this.tutor;
    this.setAttribute('model-state', t.modelState);
    if (t.modelState === 'loading') {
      this.$('backend').textContent = 'server · model downloading';
      this.$('backend').className = 'pill none';
    }
    void t.ready.then(() => this.modelSettled(t));
    (this.$('q') as HTMLInputElement).disabled = false;
    (this.$('send') as HTMLButtonElement).disabled = false;
    (this.$('q') as HTMLInputElement).focus();
    this.dispatchEvent(new CustomEvent('tutor-ready', { detail: t }));
  }

  /** The local model is loaded, or will not be: say where answers come from now. */
  private modelSettled(t: Tutor): void {
    const pill = this.$('backend');
    if (t.backend) {
      pill.textContent = `on device · ${t.backend === 'gpu' ? 'WebGPU' : 'CPU (WebAssembly)'}`;
      pill.className = `pill ${t.backend}`;
      this.$('progress').hidden = true;
    } else {
      pill.textContent = 'server only';
      pill.className = 'pill none';
      this.$('progress').hidden = false;
      (this.$('pbar').parentElement as HTMLElement).hidden = true;
      this.$('plabel').textContent = `Local model unavailable (${(t.localError as TutorError).kind}); answers come from the server.`;
      this.$('pbytes').textContent = '';
    }
    this.setAttribute('model-state', t.modelState);
    this.dispatchEvent(new CustomEvent('tutor-model', { detail: t.info }));
  }

  /** Ask a question (also used by the input box). Resolves with the answer's text. */
  async ask(question: string, opts: { maxTokens?: number; raw?: boolean } = {}): Promise<string> {
    if (!this.tutor) throw new Error('tutor not ready');
    const item = document.createElement('div');
    item.className = 'msg';
    item.innerHTML = '<div class="q"></div><div class="a"></div><div class="meta"></div>';
    (item.querySelector('.q') as HTMLElement).textContent = question;
    const a = item.querySelector('.a') as HTMLElement;
    const meta = item.querySelector('.meta') as HTMLElement;
    this.$('log').appendChild(item);
    this.$('new').hidden = false;
    this.busy = new AbortController();
    (this.$('send') as HTMLButtonElement).disabled = true;
    this.$('stop').hidden = false;
    let text = '';
    let tokens = 0;
    let tFirst = 0;
    try {
      const maxTokens = opts.maxTokens ?? Number(this.getAttribute('max-tokens') ?? 96);
      let draft = '';
      let note = '';
      for await (const c of this.tutor.ask(question, { signal: this.busy.signal, maxTokens, raw: opts.raw })) {
        if (c.route?.replacesLocal) {
          // Escalated mid-answer: the local text so far was a draft; the server answers afresh.
          draft = text;
          note = c.route.message;
          text = '';
        }
        text += c.text;
        if (c.token !== null) {
          tokens++;
          tFirst ||= performance.now();
        }
        if (draft) {
          const d = document.createElement('span');
          d.className = 'draft';
          d.textContent = draft;
          const n = document.createElement('div');
          n.className = 'note';
          n.textContent = note;
          a.replaceChildren(d, n, document.createTextNode(text));
        } else a.textContent = text;
        // Decode speed after the first token (the prefill is not counted), as the engine reports it.
        const live = tokens > 1 ? (tokens - 1) / ((performance.now() - tFirst) / 1000) : null;
        this.renderMeta(meta, c, live);
        this.$('log').scrollTop = this.$('log').scrollHeight;
      }
    } catch (e) {
      const err = document.createElement('div');
      err.className = 'err';
      err.textContent = `Error (${(e as TutorError).kind ?? 'unknown'}): ${(e as Error).message}`;
      item.appendChild(err);
    } finally {
      this.busy = null;
      (this.$('send') as HTMLButtonElement).disabled = false;
      this.$('stop').hidden = true;
    }
    return text;
  }

  private renderMeta(meta: HTMLElement, c: TutorChunk, live: number | null): void {
    // Server chunks are not tokens: no speed for them.
    const tps = c.source === 'local' ? (c.timing?.tokensPerS ?? live) : null;
    const where = c.source === 'local' ? `on this device (${c.backend === 'gpu' ? 'WebGPU' : 'CPU'})` : 'from the server';
    meta.innerHTML = '';
    const badge = document.createElement('span');
    badge.className = `badge ${c.source}`;
    badge.textContent = (c.source === 'local' ? 'local' : 'server') + (c.cached ? ' · saved' : '');
    badge.title = c.reason;
    const why = document.createElement('span');
    why.textContent = `${where} — ${c.reason}`;
    const speed = document.createElement('span');
    speed.textContent = tps ? `${tps.toFixed(1)} tok/s` : '';
    const fin = document.createElement('span');
    fin.textContent = c.finish ? (c.finish === 'aborted' ? '· stopped' : c.finish === 'length' ? '· length limit' : '') : '· writing…';
    meta.append(badge, why, speed, fin);
  }
}

if (!customElements.get('tutor-chat')) customElements.define('tutor-chat', TutorChatElement);

async function fetchPolicy(url: string): Promise<string> {
  const res = await fetch(url);
  if (!res.ok) throw new TutorError('invalid_input', `route policy ${url}: HTTP ${res.status}`);
  return res.text();
}
