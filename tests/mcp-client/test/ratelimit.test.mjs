// The execution rate limits count MCP tool calls that run code, like POST /api/v1/execute, and nothing else on /mcp.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, startServer, text, TOKEN } from '../client.mjs';

let server;
before(async () => { server = await startServer({ WARDEN_RATE_LIMIT_PER_MINUTE: '1', WARDEN_RATE_LIMIT_BURST: '2' }); });
after(async () => { await server?.stop(); });

test('a user past the per-minute limit is refused as isError; handshakes and tool lists do not count; other users are not affected', async () => {
  const { client, close } = await connect({ url: server.url, user: 'hasty' });
  try {
    for (let i = 0; i < 5; i++) await client.listTools();
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await client.callTool({ name: 'run_code', arguments: { language: 'python', code: 'print(1)' } }));
    assert.deepEqual(runs.map(r => r.isError), [false, false, true], runs.map(text).join('\n'));
    assert.match(text(runs[2]), /refused: rate-limited/);
    assert.match(text(runs[2]), /retry in \d+ s/);
    const kernel = await client.callTool({ name: 'run_python', arguments: { code: '1' } });
    assert.equal(kernel.isError, true, 'run_python counts too');
    // The native API shares the bucket: the same user is refused there as well.
    const native = await fetch(`${server.url}/api/v1/execute`, {
      method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'X-User-Id': 'hasty', 'Content-Type': 'application/json' },
      body: JSON.stringify({ language: 'python', code: 'print(1)' }),
    });
    assert.equal(native.status, 429);
  } finally {
    await close();
  }
  const other = await connect({ url: server.url, user: 'patient' });
  try {
    const ok = await other.client.callTool({ name: 'run_code', arguments: { language: 'python', code: 'print(1)' } });
    assert.equal(ok.isError, false, text(ok));
  } finally {
    await other.close();
  }
});
