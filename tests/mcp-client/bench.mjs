// MCP round trips next to the same work over the native API, against the warden serve run.sh starts
// (tests/mcp-client/run.sh --bench [rounds=50]). Rows are interleaved: every round runs each row once, in a new random
// order, after 5 discarded warm-up rounds; every result is checked, so a broken run cannot be a fast one.
import assert from 'node:assert/strict';
import { URL_, TOKEN, connect } from './client.mjs';

const rounds = Number(process.argv[2] || 50);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const headers = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', 'X-User-Id': 'bench' };
const post = async (path, body) => {
  const response = await fetch(`${URL_}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  assert.ok(response.ok, `${path}: ${response.status}`);
  return response.json();
};

const { client, close } = await connect({ user: 'bench' });
const session = await post('/api/v1/sessions', { language: 'python' });
const rows = {
  'MCP run_code (python print(1))': async () => {
    const r = await client.callTool({ name: 'run_code', arguments: { language: 'python', code: 'print(1)' } });
    assert.match(r.content[0].text, /--- stdout ---\n1\n/);
  },
  'native POST /api/v1/execute (python print(1))': async () => {
    const r = await post('/api/v1/execute', { language: 'python', code: 'print(1)' });
    assert.equal(r.stdout, '1\n');
  },
  'MCP run_python (1+1 in the kernel)': async () => {
    const r = await client.callTool({ name: 'run_python', arguments: { code: '1+1' } });
    assert.match(r.content[0].text, /--- result ---\n2/);
  },
  'native POST /api/v1/sessions/{id}/execute (1+1)': async () => {
    const r = await post(`/api/v1/sessions/${session.id}/execute`, { code: '1+1' });
    assert.equal(r.result, '2');
  },
};
const times = Object.fromEntries(Object.keys(rows).map(k => [k, []]));
for (let round = -5; round < rounds; round++) {
  for (const name of Object.keys(rows).sort(() => Math.random() - 0.5)) {
    const t = now();
    await rows[name]();
    if (round >= 0) times[name].push(now() - t);
  }
}
await close();
await fetch(`${URL_}/api/v1/sessions/${session.id}`, { method: 'DELETE', headers });
console.log(`| round trip (${rounds} interleaved rounds) | p50 ms | p95 ms |`);
console.log('|---|---:|---:|');
for (const [name, xs] of Object.entries(times)) console.log(`| ${name} | ${pct(xs, 0.5).toFixed(1)} | ${pct(xs, 0.95).toFixed(1)} |`);
