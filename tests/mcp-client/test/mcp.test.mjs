// Warden's /mcp driven by the official MCP TypeScript SDK (@modelcontextprotocol/sdk) over Streamable HTTP.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { URL_, TOKEN, connect, text, storedKey } from '../client.mjs';

const open = [];
async function client(options) {
  const c = await connect(options);
  open.push(c);
  return c.client;
}
after(async () => { for (const c of open) await c.close().catch(() => {}); });

// A 1x1 PNG, written by the sandboxed program and expected back byte for byte.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

test('lists run_code and run_python with JSON schemas and descriptions', async () => {
  const c = await client();
  const { tools } = await c.listTools();
  const byName = Object.fromEntries(tools.map(t => [t.name, t]));
  assert.ok(byName.run_code && byName.run_python, `tools: ${tools.map(t => t.name)}`);
  assert.equal(byName.run_code.inputSchema.type, 'object');
  assert.deepEqual([...byName.run_code.inputSchema.required].sort(), ['code', 'language']);
  assert.ok('timeout' in byName.run_code.inputSchema.properties && 'memoryMb' in byName.run_code.inputSchema.properties);
  assert.deepEqual(byName.run_python.inputSchema.required, ['code']);
  assert.ok(!('progress' in byName.run_code.inputSchema.properties), 'the progress reporter is not a model-facing parameter');
  assert.match(byName.run_code.description, /fresh, isolated sandbox/);
  assert.match(byName.run_python.description, /persist/);
});

test('run_code runs python and returns stdout, stderr and the exit code', async () => {
  const c = await client();
  const result = await c.callTool({ name: 'run_code', arguments: { language: 'python', code: 'import sys\nprint(6*7)\nprint("warn", file=sys.stderr)' } });
  assert.equal(result.isError, false, text(result));
  const body = text(result);
  assert.match(body, /status: success/);
  assert.match(body, /exit code: 0/);
  assert.match(body, /--- stdout ---\n42\n/);
  assert.match(body, /--- stderr ---\nwarn\n/);
});

test('run_code: another language, stdin, and a non-zero exit flagged isError', async () => {
  const c = await client();
  const bash = await c.callTool({ name: 'run_code', arguments: { language: 'bash', code: 'read x; echo "got $x"; exit 3', stdin: 'hello\n' } });
  assert.equal(bash.isError, true);
  assert.match(text(bash), /exit code: 3/);
  assert.match(text(bash), /got hello/);
});

test('run_code: a limit above the server ceiling and an unknown language are refused as tool errors', async () => {
  const c = await client();
  const tooLong = await c.callTool({ name: 'run_code', arguments: { language: 'python', code: 'print(1)', timeout: 1e6 } });
  assert.equal(tooLong.isError, true);
  assert.match(text(tooLong), /refused: /);
  assert.match(text(tooLong), /timeout/i);
  const unknown = await c.callTool({ name: 'run_code', arguments: { language: 'cobol-9000', code: 'x' } });
  assert.equal(unknown.isError, true);
  assert.match(text(unknown), /python/, 'the refusal names the installed languages');
});

test('run_code returns an image file the program wrote as MCP image content, other files as embedded resources', async () => {
  const c = await client();
  const code = `import base64\nopen("dot.png","wb").write(base64.b64decode("${PNG}"))\nopen("notes.txt","w").write("n")\nopen("raw.bin","wb").write(bytes([0, 255, 1]))\nprint("saved")`;
  const result = await c.callTool({ name: 'run_code', arguments: { language: 'python', code } });
  assert.equal(result.isError, false, text(result));
  const images = result.content.filter(b => b.type === 'image');
  assert.equal(images.length, 1, JSON.stringify(result.content.map(b => b.type)));
  assert.equal(images[0].mimeType, 'image/png');
  assert.equal(images[0].data, PNG);
  assert.match(text(result), /notes\.txt \(1 bytes\)/, 'other files are named in the text');
  const resources = Object.fromEntries(result.content.filter(b => b.type === 'resource').map(b => [b.resource.uri.split('/').pop(), b.resource]));
  assert.deepEqual(Object.keys(resources).sort(), ['notes.txt', 'raw.bin']);
  assert.equal(resources['notes.txt'].text, 'n');
  assert.equal(resources['notes.txt'].mimeType, 'text/plain');
  assert.deepEqual([...Buffer.from(resources['raw.bin'].blob, 'base64')], [0, 255, 1]);
});

test('run_code is recorded in the execution history with transport mcp', async () => {
  const c = await client({ user: 'historian' });
  const marker = randomUUID();
  await c.callTool({ name: 'run_code', arguments: { language: 'python', code: `print("${marker}")` } });
  const response = await fetch(`${URL_}/api/v1/executions?user=historian&limit=5`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(response.status, 200);
  const page = await response.json();
  const items = page.items;
  assert.ok(items.some(e => e.transport === 'mcp' && e.user_id === 'historian' && e.status === 'success'), JSON.stringify(page).slice(0, 500));
});

test('run_python keeps kernel state across calls', async () => {
  const c = await client({ user: 'kernel-user' });
  const first = await c.callTool({ name: 'run_python', arguments: { code: 'counter = 41\nimport math' } });
  assert.equal(first.isError, false, text(first));
  const second = await c.callTool({ name: 'run_python', arguments: { code: 'counter += 1\nprint(counter)\nmath.sqrt(16)' } });
  assert.equal(second.isError, false, text(second));
  assert.match(text(second), /--- stdout ---\n42\n/);
  assert.match(text(second), /--- result ---\n4\.0/);
});

test('run_python: an exception is flagged isError with its traceback', async () => {
  const c = await client({ user: 'kernel-user' });
  const result = await c.callTool({ name: 'run_python', arguments: { code: 'def f():\n    return 1/0\nf()' } });
  assert.equal(result.isError, true);
  assert.match(text(result), /status: error/);
  assert.match(text(result), /--- traceback ---/);
  assert.match(text(result), /ZeroDivisionError/);
  assert.doesNotMatch(text(result), /\x1b\[/, 'no terminal colour codes for the model');
});

test('run_python returns a matplotlib figure as an image', async () => {
  const c = await client({ user: 'plotter' });
  const code = 'import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()';
  const result = await c.callTool({ name: 'run_python', arguments: { code } });
  assert.equal(result.isError, false, text(result));
  const images = result.content.filter(b => b.type === 'image');
  assert.equal(images.length, 1, JSON.stringify(result.content.map(b => b.type)));
  assert.equal(images[0].mimeType, 'image/png');
  assert.deepEqual([...Buffer.from(images[0].data, 'base64').subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
});

test('two users (X-User-Id) on one key have kernels that stay apart', async () => {
  const alice = await client({ user: 'alice-apart' });
  const bob = await client({ user: 'bob-apart' });
  await alice.callTool({ name: 'run_python', arguments: { code: 'secret = "alice-only"' } });
  const seen = await bob.callTool({ name: 'run_python', arguments: { code: 'print(globals().get("secret"))' } });
  assert.match(text(seen), /--- stdout ---\nNone\n/);
  const own = await alice.callTool({ name: 'run_python', arguments: { code: 'print(secret)' } });
  assert.match(text(own), /alice-only/);
});

test('the same user id under another (stored) key is another principal: kernels apart', async () => {
  const key = await storedKey('mcp-tenant');
  const bootstrap = await client({ user: 'same-name' });
  const tenant = await client({ user: 'same-name', token: key });
  await bootstrap.callTool({ name: 'run_python', arguments: { code: 'owner = "bootstrap"' } });
  const seen = await tenant.callTool({ name: 'run_python', arguments: { code: 'print(globals().get("owner"))' } });
  assert.equal(seen.isError, false, text(seen));
  assert.match(text(seen), /--- stdout ---\nNone\n/);
});

test('X-Session-Id keys the kernel: one user, two chats, two kernels; the same chat on a new connection, the same kernel', async () => {
  const chat1 = await client({ user: 'chatter', headers: { 'X-Session-Id': 'chat-1' } });
  const chat2 = await client({ user: 'chatter', headers: { 'X-Session-Id': 'chat-2' } });
  await chat1.callTool({ name: 'run_python', arguments: { code: 'topic = "one"' } });
  const other = await chat2.callTool({ name: 'run_python', arguments: { code: 'print(globals().get("topic"))' } });
  assert.match(text(other), /--- stdout ---\nNone\n/);
  const again = await client({ user: 'chatter', headers: { 'X-Session-Id': 'chat-1' } });
  const same = await again.callTool({ name: 'run_python', arguments: { code: 'print(topic)' } });
  assert.match(text(same), /--- stdout ---\none\n/);
});

test('without a key the endpoint is 401, and the SDK client fails to connect', async () => {
  const response = await fetch(`${URL_}/mcp`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
  assert.equal(response.status, 401);
  await assert.rejects(connect({ token: null }), /401|nauthori/);
  await assert.rejects(connect({ token: 'not-a-key' }), /401|nauthori/);
});

test('an MCP session id used by another user is refused', async () => {
  const { transport } = await connect({ user: 'owner-user' }).then(c => { open.push(c); return c; });
  const sessionId = transport.sessionId;
  assert.ok(sessionId, 'the initialize handshake gives a session id');
  const response = await fetch(`${URL_}/mcp`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${TOKEN}`,
      'X-User-Id': 'intruder', 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': transport.protocolVersion ?? '2025-06-18',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'run_python', arguments: { code: 'print(1)' } } }),
  });
  assert.equal(response.status, 403, await response.text());
});

test('cancelling a call kills the run', async () => {
  const c = await client({ user: 'canceller' });
  const controller = new AbortController();
  const call = c.callTool({ name: 'run_code', arguments: { language: 'python', code: 'while True: pass', timeout: 60 } }, undefined, { signal: controller.signal });
  await new Promise(r => setTimeout(r, 1500));
  controller.abort();
  await assert.rejects(call);
  const deadline = Date.now() + 10000;
  let stats;
  while (Date.now() < deadline) {
    stats = await (await fetch(`${URL_}/api/v1/stats`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
    if (stats.active === 0) break;
    await new Promise(r => setTimeout(r, 200));
  }
  assert.equal(stats.active, 0, 'the sandbox is gone well before its 60 s timeout');
  const history = await (await fetch(`${URL_}/api/v1/executions?user=canceller&limit=5`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
  assert.match(JSON.stringify(history), /"status":"cancelled"/);
});

test('long runs send progress notifications (run_code and run_python)', async () => {
  const c = await client({ user: 'patient' });
  for (const [name, args] of [['run_code', { language: 'python', code: 'import time\ntime.sleep(4.5)\nprint("done")' }],
    ['run_python', { code: 'import time\ntime.sleep(4.5)\nprint("done")' }]]) {
    const beats = [];
    const result = await c.callTool({ name, arguments: args }, undefined, { onprogress: p => beats.push(p) });
    assert.equal(result.isError, false, text(result));
    assert.match(text(result), /done/);
    assert.ok(beats.length >= 1, `${name}: ${beats.length} progress notifications`);
    assert.match(beats[0].message, /running for \d+ s/);
    assert.deepEqual(beats.map(b => b.progress), beats.map((_, i) => i + 1), 'progress increases');
  }
});

test('kernels count against the session caps: a user past WARDEN_MAX_SESSIONS_PER_USER (3 here) is refused, as isError', async () => {
  const results = [];
  for (const chat of ['cap-1', 'cap-2', 'cap-3', 'cap-4']) {
    const c = await client({ user: 'capped', headers: { 'X-Session-Id': chat } });
    results.push(await c.callTool({ name: 'run_python', arguments: { code: 'print("up")' } }));
  }
  for (const r of results.slice(0, 3)) assert.equal(r.isError, false, text(r));
  assert.equal(results[3].isError, true);
  assert.match(text(results[3]), /refused: /);
  assert.match(text(results[3]), /maximum of 3 sessions/);
  const listed = await (await fetch(`${URL_}/api/v1/sessions`, { headers: { Authorization: `Bearer ${TOKEN}`, 'X-User-Id': 'capped' } })).json();
  assert.equal(listed.length, 3, 'the kernels are ordinary sessions of the user, visible on the native API');
});
