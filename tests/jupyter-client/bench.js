'use strict';
// Session/Jupyter benchmarks against a real `warden serve` (started here): kernel start (POST /api/kernels) p50/p95,
// execute round trip of `1+1` over the kernel WebSocket and over the native API, and the memory of 100 idle kernels
// (sum of their cgroups' memory.usage_in_bytes, plus the server's RSS growth). Usage: node bench.js [kernels=100]
const fs = require('node:fs');
const { randomUUID } = require('node:crypto');
const WebSocket = require('ws');
const { startServer, TOKEN } = require('./test/server');

const idleKernels = Number(process.argv[2] || 100);
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const ms = x => `${x.toFixed(2)} ms`;
const now = () => Number(process.hrtime.bigint()) / 1e6;

async function main() {
  const server = await startServer({
    WARDEN_MAX_SESSIONS: String(idleKernels + 10), WARDEN_MAX_SESSIONS_PER_USER: String(idleKernels + 10),
  });
  const q = `?token=${TOKEN}`;
  try {
    const health = await (await fetch(`${server.url}/api/v1/health`)).json();
    const instance = health.backend_info.instance;
    const create = async () => (await (await fetch(`${server.url}/api/kernels${q}`, { method: 'POST' })).json()).id;
    const remove = id => fetch(`${server.url}/api/kernels/${id}${q}`, { method: 'DELETE' });

    // Kernel start, as Open WebUI does it: one kernel per call, deleted afterwards.
    for (let i = 0; i < 3; i++) await remove(await create());
    const starts = [];
    for (let i = 0; i < 40; i++) {
      const t = now();
      const id = await create();
      starts.push(now() - t);
      await remove(id);
    }
    console.log(`kernel start (POST /api/kernels, python): p50 ${ms(pct(starts, 0.5))}, p95 ${ms(pct(starts, 0.95))} (n=${starts.length})`);

    // Execute round trip over the WebSocket: execute_request sent → status idle received.
    const id = await create();
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/kernels/${id}/channels${q}`);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    let pending = null;
    ws.on('message', data => {
      const m = JSON.parse(data.toString());
      if (pending && m.parent_header.msg_id === pending.id && m.msg_type === 'status' && m.content.execution_state === 'idle') pending.resolve();
    });
    const roundTrip = () => new Promise(resolve => {
      const msgId = randomUUID();
      pending = { id: msgId, resolve };
      ws.send(JSON.stringify({
        header: { msg_id: msgId, msg_type: 'execute_request', username: 'b', session: 's', date: '', version: '5.3' },
        parent_header: {}, metadata: {}, content: { code: '1+1', silent: false }, channel: 'shell',
      }));
    });
    for (let i = 0; i < 50; i++) await roundTrip();
    const trips = [];
    for (let i = 0; i < 500; i++) { const t = now(); await roundTrip(); trips.push(now() - t); }
    console.log(`execute 1+1 round trip (kernel WebSocket): p50 ${ms(pct(trips, 0.5))}, p95 ${ms(pct(trips, 0.95))} (n=${trips.length})`);
    ws.close();

    const native = [];
    const body = JSON.stringify({ code: '1+1' });
    const headers = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
    for (let i = 0; i < 50; i++) await fetch(`${server.url}/api/v1/sessions/${id}/execute`, { method: 'POST', headers, body });
    for (let i = 0; i < 300; i++) {
      const t = now();
      const r = await fetch(`${server.url}/api/v1/sessions/${id}/execute`, { method: 'POST', headers, body });
      await r.json();
      native.push(now() - t);
    }
    console.log(`execute 1+1 round trip (POST /api/v1/sessions/{id}/execute): p50 ${ms(pct(native, 0.5))}, p95 ${ms(pct(native, 0.95))} (n=${native.length})`);
    await remove(id);

    // Idle kernels.
    const rss = () => {
      const pid = fs.readdirSync('/proc').find(p => /^\d+$/.test(p) && (() => {
        try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('serve') && fs.readFileSync(`/proc/${p}/environ`, 'utf8').includes(server.url); } catch { return false; }
      })());
      return pid ? Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024 : 0;
    };
    const rssBefore = rss();
    const ids = [];
    const t = now();
    for (let i = 0; i < idleKernels; i++) ids.push(await create());
    const elapsed = now() - t;
    await new Promise(r => setTimeout(r, 1000));
    const memRoot = `/sys/fs/cgroup/memory/warden/${instance}`;
    let cgroupBytes = 0, counted = 0;
    if (fs.existsSync(memRoot)) {
      for (const dir of fs.readdirSync(memRoot).filter(d => d.startsWith('session-'))) {
        cgroupBytes += Number(fs.readFileSync(`${memRoot}/${dir}/memory.usage_in_bytes`, 'utf8'));
        counted++;
      }
    }
    const rssAfter = rss();
    const mb = b => (b / 1048576).toFixed(1);
    console.log(`${idleKernels} idle python kernels: started in ${(elapsed / 1000).toFixed(1)} s; cgroup memory ${mb(cgroupBytes)} MB total ` +
      `(${mb(cgroupBytes / Math.max(1, counted))} MB per kernel, ${counted} cgroups), server RSS +${mb(rssAfter - rssBefore)} MB`);
    await Promise.all(ids.map(remove));
  } finally {
    await server.stop();
  }
}

main().catch(e => { console.error(e); process.exit(1); });
