// The terminal tools: run_shell and the home's files, in each user's own Open Terminal sandbox.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, text } from '../client.mjs';

const open = [];
async function client(options) {
  const c = await connect(options);
  open.push(c);
  return c.client;
}
after(async () => { for (const c of open) await c.close().catch(() => {}); });

test('the terminal tools are listed', async () => {
  const c = await client({ user: 'shell-user' });
  const names = (await c.listTools()).tools.map(t => t.name);
  for (const name of ['run_shell', 'list_files', 'read_file', 'write_file']) assert.ok(names.includes(name), `${name} in ${names}`);
});

test('run_shell returns the output and exit code; a failing command is isError', async () => {
  const c = await client({ user: 'shell-user' });
  const ok = await c.callTool({ name: 'run_shell', arguments: { command: 'echo hello from $(whoami | wc -c) && echo oops >&2' } });
  assert.equal(ok.isError, false, text(ok));
  assert.match(text(ok), /exit code: 0/);
  assert.match(text(ok), /hello from \d+/);
  assert.match(text(ok), /oops/);
  const bad = await c.callTool({ name: 'run_shell', arguments: { command: 'exit 4' } });
  assert.equal(bad.isError, true);
  assert.match(text(bad), /exit code: 4/);
});

test('run_shell kills a command that exceeds its timeout', async () => {
  const c = await client({ user: 'shell-user' });
  const started = Date.now();
  const result = await c.callTool({ name: 'run_shell', arguments: { command: 'sleep 30; echo late', timeout: 1 } });
  assert.equal(result.isError, true);
  assert.match(text(result), /timeout \(killed\)/);
  assert.doesNotMatch(text(result), /late/);
  assert.ok(Date.now() - started < 15000);
});

test('write_file, read_file and list_files work on the home; run_shell sees the same files', async () => {
  const c = await client({ user: 'files-user' });
  const written = await c.callTool({ name: 'write_file', arguments: { path: 'notes/todo.txt', content: 'one\ntwo\nthree\n' } });
  assert.equal(written.isError, false, text(written));
  const read = await c.callTool({ name: 'read_file', arguments: { path: 'notes/todo.txt', startLine: 2, endLine: 3 } });
  assert.equal(text(read), 'two\nthree\n');
  const listed = await c.callTool({ name: 'list_files', arguments: { directory: 'notes' } });
  assert.match(text(listed), /todo\.txt/);
  const shell = await c.callTool({ name: 'run_shell', arguments: { command: 'wc -l < notes/todo.txt' } });
  assert.match(text(shell), /--- output ---\n3\n/);
});

test("one user cannot read another user's files", async () => {
  const alice = await client({ user: 'files-alice' });
  const bob = await client({ user: 'files-bob' });
  await alice.callTool({ name: 'write_file', arguments: { path: 'secret.txt', content: 'alice-secret' } });
  const where = await alice.callTool({ name: 'run_shell', arguments: { command: 'realpath secret.txt' } });
  const path = text(where).split('--- output ---\n')[1].trim();
  const direct = await bob.callTool({ name: 'read_file', arguments: { path } });
  assert.equal(direct.isError, true, text(direct));
  const relative = await bob.callTool({ name: 'read_file', arguments: { path: 'secret.txt' } });
  assert.equal(relative.isError, true, text(relative));
  const shell = await bob.callTool({ name: 'run_shell', arguments: { command: `cat ${path}; grep -rs alice-secret / --include=secret.txt | head -1; true` } });
  assert.doesNotMatch(text(shell), /alice-secret/);
});
