// Connects the official MCP TypeScript SDK to the Warden under test (run.sh starts it and exports WARDEN_URL and WARDEN_TOKEN).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export const URL_ = process.env.WARDEN_URL;
export const TOKEN = process.env.WARDEN_TOKEN;
if (!URL_ || !TOKEN) throw new Error('WARDEN_URL and WARDEN_TOKEN are required: run the suite with tests/mcp-client/run.sh');

/** A connected client acting for `user` (X-User-Id), with `token` as its bearer key (none when null). */
export async function connect({ user = 'alice', token = TOKEN, headers = {}, url = URL_ } = {}) {
  const all = { ...headers };
  if (user !== null) all['X-User-Id'] = user;
  if (token !== null) all.Authorization = `Bearer ${token}`;
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: all } });
  const client = new Client({ name: 'warden-mcp-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport, close: () => client.close() };
}

/** The text block of a tool result. */
export function text(result) {
  const block = result.content.find(c => c.type === 'text');
  if (!block) throw new Error(`no text block in ${JSON.stringify(result)}`);
  return block.text;
}

/** Creates a stored key (admin API, with the bootstrap key) and returns its secret. */
export async function storedKey(name) {
  const response = await fetch(`${URL_}/api/v1/admin/keys`, {
    method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, scopes: ['execute'] }),
  });
  if (response.status !== 201) throw new Error(`key creation: ${response.status} ${await response.text()}`);
  return (await response.json()).key;
}

/** Starts a `warden serve` of its own (a free loopback port, its own state directory) with extra settings; returns { url, stop }. */
export async function startServer(env) {
  const { spawn } = await import('node:child_process');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const net = await import('node:net');
  const path = await import('node:path');
  const port = await new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
  const url = `http://127.0.0.1:${port}`;
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-mcp-own-'));
  const child = spawn(process.env.WARDEN_BIN, ['serve'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/root', WARDEN_STATE_DIR: state, WARDEN_URLS: url, WARDEN_API_KEY: TOKEN, ...env },
    stdio: 'ignore',
  });
  const stop = async () => {
    if (child.exitCode === null) { child.kill('SIGTERM'); await new Promise(r => child.once('exit', r)); }
    fs.rmSync(state, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try { if ((await fetch(`${url}/api/v1/health`)).ok) return { url, stop }; } catch { /* not listening yet */ }
    await new Promise(r => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`warden serve did not become healthy at ${url}`);
}
