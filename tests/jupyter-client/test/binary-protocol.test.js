'use strict';
// The v1.kernel.websocket.jupyter.org subprotocol at the byte level: the server must select it when offered, send
// only binary frames, and read binary frames: u64 LE offset count, the offsets, then channel and the JSON parts.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { randomUUID } = require('node:crypto');
const WebSocket = require('ws');
const { TOKEN, useServer } = require('./server');

const PROTOCOL = 'v1.kernel.websocket.jupyter.org';
let server;
before(async () => { server = await useServer(); });
after(async () => { await server.stop(); });

function encode(channel, header, parent, metadata, content) {
  const parts = [channel, header, parent, metadata, content].map((p, i) => Buffer.from(i === 0 ? p : JSON.stringify(p)));
  const count = parts.length + 1;
  const head = Buffer.alloc(8 * (1 + count));
  head.writeBigUInt64LE(BigInt(count), 0);
  let position = head.length;
  parts.forEach((p, i) => { head.writeBigUInt64LE(BigInt(position), 8 * (i + 1)); position += p.length; });
  head.writeBigUInt64LE(BigInt(position), 8 * count);
  return Buffer.concat([head, ...parts]);
}

function decode(frame) {
  const count = Number(frame.readBigUInt64LE(0));
  const offsets = Array.from({ length: count }, (_, i) => Number(frame.readBigUInt64LE(8 * (i + 1))));
  const part = i => frame.subarray(offsets[i], offsets[i + 1]).toString();
  return { channel: part(0), header: JSON.parse(part(1)), parent_header: JSON.parse(part(2)), metadata: JSON.parse(part(3)), content: JSON.parse(part(4)) };
}

test('binary subprotocol: negotiated, and an execute round trip is all binary frames', async () => {
  const created = await fetch(`${server.url}/api/kernels?token=${TOKEN}`, { method: 'POST' });
  const { id } = await created.json();
  try {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/kernels/${id}/channels?token=${TOKEN}`, [PROTOCOL]);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    assert.equal(ws.protocol, PROTOCOL);
    const msgId = randomUUID();
    const header = { msg_id: msgId, msg_type: 'execute_request', username: 't', session: randomUUID(), date: new Date().toISOString(), version: '5.3' };
    ws.send(encode('shell', header, {}, {}, { code: 'print("bin")\n2**10', silent: false }));
    const seen = [];
    await new Promise((resolve, reject) => {
      ws.on('message', (data, isBinary) => {
        try {
          assert.equal(isBinary, true);
          const message = decode(data);
          assert.equal(message.parent_header.msg_id, msgId);
          assert.equal(message.header.version, '5.3');
          seen.push(`${message.channel}:${message.header.msg_type}`);
          if (message.header.msg_type === 'stream') assert.equal(message.content.text, 'bin\n');
          if (message.header.msg_type === 'execute_result') assert.equal(message.content.data['text/plain'], '1024');
          if (message.header.msg_type === 'status' && message.content.execution_state === 'idle') resolve();
        } catch (e) { reject(e); }
      });
    });
    ws.close();
    assert.deepEqual(seen, ['iopub:status', 'iopub:execute_input', 'iopub:stream', 'iopub:execute_result', 'shell:execute_reply', 'iopub:status']);
  } finally {
    await fetch(`${server.url}/api/kernels/${id}?token=${TOKEN}`, { method: 'DELETE' });
  }
});
