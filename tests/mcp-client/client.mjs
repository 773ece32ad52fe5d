// Connects the official MCP TypeScript SDK to the Warden under test (run.sh starts it and exports WARDEN_URL and WARDEN_TOKEN).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export const URL_ = process.env.WARDEN_URL;
export const TOKEN = process.env.WARDEN_TOKEN;
if (!URL_ || !TOKEN) throw new Error('WARDEN_URL and WARDEN_TOKEN are required: run the suite with tests/mcp-client/run.sh');

/** A connected client acting for `user` (X-User-Id), with `token` as its bearer key (none when null). */
export async function connect({ user = 'alice', token = TOKEN, headers = {} } = {}) {
  const all = { ...headers };
  if (user !== null) all['X-User-Id'] = user;
  if (token !== null) all.Authorization = `Bearer ${token}`;
  const transport = new StreamableHTTPClientTransport(new URL(`${URL_}/mcp`), { requestInit: { headers: all } });
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
