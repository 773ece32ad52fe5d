// `warden mcp`: the same tools over stdio, started as a local command the way desktop clients start it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { text } from '../client.mjs';

let client;
let state;
before(async () => {
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-mcp-stdio-'));
  const transport = new StdioClientTransport({
    command: process.env.WARDEN_BIN, args: ['mcp', '--user', 'desktop'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/root', WARDEN_STATE_DIR: state }, stderr: 'inherit',
  });
  client = new Client({ name: 'warden-mcp-stdio-test', version: '1.0.0' });
  await client.connect(transport);
});
after(async () => {
  await client?.close();
  fs.rmSync(state, { recursive: true, force: true });
});

test('stdio: lists run_code and run_python only', async () => {
  const names = (await client.listTools()).tools.map(t => t.name).sort();
  assert.deepEqual(names, ['run_code', 'run_python']);
});

test('stdio: run_code runs python and flags a failure', async () => {
  const ok = await client.callTool({ name: 'run_code', arguments: { language: 'python', code: 'print(sum(range(10)))' } });
  assert.equal(ok.isError, false, text(ok));
  assert.match(text(ok), /--- stdout ---\n45\n/);
  const bad = await client.callTool({ name: 'run_code', arguments: { language: 'python', code: 'raise SystemExit(5)' } });
  assert.equal(bad.isError, true);
  assert.match(text(bad), /exit code: 5/);
});

test('stdio: run_python keeps state across calls', async () => {
  await client.callTool({ name: 'run_python', arguments: { code: 'items = [1, 2]' } });
  const result = await client.callTool({ name: 'run_python', arguments: { code: 'items.append(3)\nlen(items)' } });
  assert.equal(result.isError, false, text(result));
  assert.match(text(result), /--- result ---\n3/);
});
