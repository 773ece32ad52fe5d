'use strict';
// Warden's Jupyter API driven by the real JupyterLab client library (@jupyterlab/services 7): it negotiates the
// v1.kernel.websocket.jupyter.org binary protocol, validates every message, and uses the kernel REST calls.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { KernelManager, ServerConnection } = require('@jupyterlab/services');
const { TOKEN, useServer } = require('./server');

let server, manager;
before(async () => {
  server = await useServer();
  const serverSettings = ServerConnection.makeSettings({
    baseUrl: server.url, wsUrl: server.url.replace('http', 'ws'), token: TOKEN, appendToken: true,
    WebSocket, fetch, Request, Headers,
  });
  manager = new KernelManager({ serverSettings });
  await manager.ready;
});
after(async () => {
  await manager.shutdownAll().catch(() => {});
  manager.dispose();
  await server.stop();
});

/** Runs code and gathers iopub outputs plus the shell reply. */
async function run(kernel, code) {
  const outputs = [];
  const future = kernel.requestExecute({ code, stop_on_error: true });
  future.onIOPub = msg => {
    if (['stream', 'execute_result', 'display_data', 'error', 'execute_input'].includes(msg.header.msg_type)) {
      outputs.push({ type: msg.header.msg_type, ...msg.content });
    }
  };
  const reply = await future.done;
  const text = name => outputs.filter(o => o.type === 'stream' && o.name === name).map(o => o.text).join('');
  return { reply: reply.content, outputs, stdout: text('stdout'), stderr: text('stderr') };
}

const withTimeout = (promise, ms, what) => Promise.race([
  promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms).unref()),
]);

test('start, kernel info, and state across cells', async () => {
  const kernel = await manager.startNew({ name: 'python3' });
  try {
    const info = await withTimeout(kernel.info, 10000, 'kernel info');
    assert.equal(info.language_info.name, 'python');
    assert.equal(info.protocol_version, '5.3');
    const first = await run(kernel, 'counter = 10\ndef bump(n):\n    global counter\n    counter += n\n    return counter');
    assert.equal(first.reply.status, 'ok');
    await run(kernel, 'bump(5)');
    const third = await run(kernel, 'print(counter)\nbump(1)');
    assert.equal(third.stdout, '15\n');
    const result = third.outputs.find(o => o.type === 'execute_result');
    assert.equal(result.data['text/plain'], '16');
    assert.equal(result.execution_count, 3);
    assert.equal(third.outputs.find(o => o.type === 'execute_input').code, 'print(counter)\nbump(1)');
  } finally {
    await kernel.shutdown();
  }
});

test('image output: a matplotlib figure arrives as image/png display_data', async () => {
  const kernel = await manager.startNew({ name: 'python3' });
  try {
    const r = await run(kernel, 'import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.bar(["a", "b"], [3, 5])\nplt.show()');
    assert.equal(r.reply.status, 'ok');
    const image = r.outputs.find(o => o.type === 'display_data');
    assert.ok(image, JSON.stringify(r.outputs).slice(0, 500));
    assert.ok(Buffer.from(image.data['image/png'], 'base64').subarray(1, 4).toString() === 'PNG');
  } finally {
    await kernel.shutdown();
  }
});

test('error output: ename, evalue and a traceback through the user frames', async () => {
  const kernel = await manager.startNew({ name: 'python3' });
  try {
    const r = await run(kernel, 'def inner():\n    raise ValueError("bad value")\ninner()');
    assert.equal(r.reply.status, 'error');
    assert.equal(r.reply.ename, 'ValueError');
    const error = r.outputs.find(o => o.type === 'error');
    assert.equal(error.ename, 'ValueError');
    assert.equal(error.evalue, 'bad value');
    assert.ok(error.traceback.some(line => line.includes('in inner')));
    assert.ok(!error.traceback.some(line => line.includes('warden_kernel')), 'the driver must not show in tracebacks');
    const after = await run(kernel, '"still alive"');
    assert.equal(after.reply.status, 'ok');
  } finally {
    await kernel.shutdown();
  }
});

test('interrupt a long cell: KeyboardInterrupt, and the kernel keeps its state', async () => {
  const kernel = await manager.startNew({ name: 'python3' });
  try {
    await run(kernel, 'kept = "yes"');
    const long = run(kernel, 'import time\nprint("sleeping", flush=True)\ntime.sleep(30)');
    await new Promise(r => setTimeout(r, 500));
    const started = Date.now();
    await kernel.interrupt();
    const r = await withTimeout(long, 10000, 'interrupted cell');
    assert.ok(Date.now() - started < 5000);
    assert.equal(r.reply.status, 'error');
    assert.equal(r.reply.ename, 'KeyboardInterrupt');
    assert.equal(r.stdout, 'sleeping\n');
    assert.equal((await run(kernel, 'kept')).outputs.find(o => o.type === 'execute_result').data['text/plain'], "'yes'");
  } finally {
    await kernel.shutdown();
  }
});

test('restart: a fresh kernel with no state, still usable', async () => {
  const kernel = await manager.startNew({ name: 'python3' });
  try {
    await run(kernel, 'gone_after_restart = 1');
    await withTimeout(kernel.restart(), 20000, 'restart');
    const r = await run(kernel, '"gone_after_restart" in globals()');
    assert.equal(r.outputs.find(o => o.type === 'execute_result').data['text/plain'], 'False');
  } finally {
    await kernel.shutdown();
  }
});

test('shutdown: the kernel disappears from the server', async () => {
  const kernel = await manager.startNew({ name: 'python3' });
  const id = kernel.id;
  await run(kernel, '1');
  await kernel.shutdown();
  const response = await fetch(`${server.url}/api/kernels/${id}?token=${TOKEN}`);
  assert.equal(response.status, 404);
  const running = await (await fetch(`${server.url}/api/kernels?token=${TOKEN}`)).json();
  assert.ok(!running.some(k => k.id === id));
});

test('kernelspecs list python3 as the default', async () => {
  const specs = await (await fetch(`${server.url}/api/kernelspecs?token=${TOKEN}`)).json();
  assert.equal(specs.default, 'python3');
  assert.equal(specs.kernelspecs.python3.spec.language, 'python');
});
