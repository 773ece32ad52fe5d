'use strict';
// Wire-level tests that follow Open WebUI's Jupyter client (backend/open_webui/utils/code_interpreter.py) to the
// letter: a fresh kernel per call (POST api/kernels with no body), one execute_request as a JSON text frame on a
// plain WebSocket (no subprotocol), frames filtered by parent_header.msg_id and switched on the TOP-LEVEL msg_type,
// stop at status idle, then DELETE the kernel. Token mode passes ?token= only; password mode logs in with the
// _xsrf cookie and sends Cookie + X-XSRFToken on every call including the WebSocket.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { randomUUID } = require('node:crypto');
const WebSocket = require('ws');
const { TOKEN, PASSWORD, useServer } = require('./server');

let server;
before(async () => { server = await useServer(); });
after(async () => { await server.stop(); });

const hex = () => randomUUID().replace(/-/g, '');

/** One Open WebUI code execution: returns {stdout, stderr, result} exactly as Open WebUI builds them. */
async function executeLikeOpenWebUI(code, auth, timeoutSeconds = 60) {
  const base = server.url + '/';
  const q = auth.token ? `?token=${encodeURIComponent(auth.token)}` : '';
  const headers = { ...(auth.headers || {}) };
  const out = { stdout: '', stderr: '', result: [] };
  let kernelId;
  try {
    const created = await fetch(new URL(`api/kernels${q}`, base), { method: 'POST', headers });
    assert.ok(created.ok, `POST api/kernels: ${created.status} ${await created.clone().text()}`);
    kernelId = (await created.json()).id;
    assert.ok(kernelId);

    const wsUrl = new URL(`api/kernels/${kernelId}/channels${q}`, base.replace('http', 'ws'));
    const ws = new WebSocket(wsUrl, { headers });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const msgId = hex();
    ws.send(JSON.stringify({
      header: { msg_id: msgId, msg_type: 'execute_request', username: 'user', session: hex(), date: '', version: '5.3' },
      parent_header: {}, metadata: {},
      content: { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true },
      channel: 'shell',
    }));
    await new Promise((resolve, reject) => {
      let timer;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => { out.stderr += '\nExecution timed out.'; ws.close(); resolve(); }, timeoutSeconds * 1000);
      };
      arm();
      ws.on('message', (data, isBinary) => {
        arm();
        assert.equal(isBinary, false, 'without a subprotocol every frame must be JSON text');
        const message = JSON.parse(data.toString());
        if (message.parent_header.msg_id !== msgId) return;
        const content = message.content;
        switch (message.msg_type) {
          case 'stream':
            if (content.name === 'stdout') out.stdout += content.text;
            else if (content.name === 'stderr') out.stderr += content.text;
            break;
          case 'execute_result':
          case 'display_data':
            if (content.data['image/png']) out.result.push(`data:image/png;base64,${content.data['image/png']}`);
            else if (content.data['text/plain']) out.result.push(content.data['text/plain']);
            break;
          case 'error':
            out.stderr += content.traceback.join('\n');
            break;
          case 'status':
            if (content.execution_state === 'idle') { clearTimeout(timer); ws.close(); resolve(); }
            break;
        }
      });
      ws.once('error', reject);
    });
  } finally {
    if (kernelId) {
      const deleted = await fetch(new URL(`api/kernels/${kernelId}${q}`, base), { method: 'DELETE', headers });
      assert.equal(deleted.status, 204);
    }
  }
  return { stdout: out.stdout.trim(), stderr: out.stderr.trim(), result: out.result.join('\n').trim(), kernelId };
}

async function passwordLogin() {
  const page = await fetch(`${server.url}/login`);
  assert.equal(page.status, 200);
  const setCookie = page.headers.getSetCookie().find(c => c.startsWith('_xsrf='));
  assert.ok(setCookie, 'GET /login must set the _xsrf cookie');
  const xsrf = setCookie.split(';')[0].slice('_xsrf='.length);
  const cookies = { _xsrf: xsrf };
  const cookieHeader = () => Object.entries(cookies).map(([k, v]) => `${k}=${v}`).join('; ');
  const login = await fetch(`${server.url}/login`, {
    method: 'POST', redirect: 'manual',
    headers: { Cookie: cookieHeader(), 'X-XSRFToken': xsrf, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _xsrf: xsrf, password: PASSWORD }),
  });
  assert.ok(login.status === 302 || login.status === 200, `POST /login: ${login.status}`);
  for (const c of login.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const eq = pair.indexOf('=');
    cookies[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { Cookie: cookieHeader(), 'X-XSRFToken': xsrf };
}

test('token mode: print, stderr and last expression come back as Open WebUI reads them', async () => {
  const r = await executeLikeOpenWebUI('import sys\nprint("hello")\nprint("warn", file=sys.stderr)\n6*7', { token: TOKEN });
  assert.equal(r.stdout, 'hello');
  assert.equal(r.stderr, 'warn');
  assert.equal(r.result, '42');
});

test('token mode: an exception arrives as a traceback in stderr', async () => {
  const r = await executeLikeOpenWebUI('def f():\n    return 1/0\nf()', { token: TOKEN });
  assert.match(r.stderr, /ZeroDivisionError: division by zero/);
  assert.match(r.stderr, /line 2, in f/);
  assert.equal(r.result, '');
});

test('token mode: a matplotlib figure becomes a data:image/png line in result', async () => {
  const r = await executeLikeOpenWebUI(
    'import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.title("squares")\nplt.show()\nprint("plotted")', { token: TOKEN });
  assert.equal(r.stdout, 'plotted');
  assert.match(r.result, /^data:image\/png;base64,iVBORw0KGgo/);
});

test('token mode: a fresh kernel per call keeps no state from the previous call', async () => {
  await executeLikeOpenWebUI('leftover = 1', { token: TOKEN });
  const r = await executeLikeOpenWebUI('print("leftover" in globals())', { token: TOKEN });
  assert.equal(r.stdout, 'False');
});

test('token mode: every kernel is deleted afterwards (none left running)', async () => {
  const before = await (await fetch(`${server.url}/api/kernels?token=${TOKEN}`)).json();
  const { kernelId } = await executeLikeOpenWebUI('1', { token: TOKEN });
  const afterList = await (await fetch(`${server.url}/api/kernels?token=${TOKEN}`)).json();
  assert.equal(afterList.length, before.length);
  const gone = await fetch(`${server.url}/api/kernels/${kernelId}?token=${TOKEN}`);
  assert.equal(gone.status, 404);
});

test('token mode: wrong or missing token is refused, on REST and on the WebSocket', async () => {
  assert.equal((await fetch(`${server.url}/api/kernels`, { method: 'POST' })).status, 403);
  // A refused token is 401 (Warden names bad credentials as such); no credentials at all stay jupyter_server's 403.
  assert.equal((await fetch(`${server.url}/api/kernels?token=nope`, { method: 'POST' })).status, 401);
  const ok = await fetch(`${server.url}/api/kernels`, { method: 'POST', headers: { Authorization: `token ${TOKEN}` } });
  assert.equal(ok.status, 201);
  const { id } = await ok.json();
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/kernels/${id}/channels?token=nope`);
  const status = await new Promise(resolve => {
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
    ws.once('open', () => resolve('opened'));
    ws.once('error', () => {});
  });
  assert.equal(status, 401);
  assert.equal((await fetch(`${server.url}/api/kernels/${id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } })).status, 204);
});

test('password mode: GET /login, POST /login with _xsrf, then cookies + X-XSRFToken on every call', async () => {
  const headers = await passwordLogin();
  const r = await executeLikeOpenWebUI('x = [i * i for i in range(5)]\nprint(sum(x))\nx', { headers });
  assert.equal(r.stdout, '30');
  assert.equal(r.result, '[0, 1, 4, 9, 16]');
});

test('password mode: wrong password, missing _xsrf and cookie calls without X-XSRFToken are refused', async () => {
  const page = await fetch(`${server.url}/login`);
  const xsrf = page.headers.getSetCookie().find(c => c.startsWith('_xsrf=')).split(';')[0].slice(6);
  const form = (password, field) => fetch(`${server.url}/login`, {
    method: 'POST', redirect: 'manual',
    headers: { Cookie: `_xsrf=${xsrf}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _xsrf: field, password }),
  });
  assert.equal((await form('wrong', xsrf)).status, 401);
  assert.equal((await form(PASSWORD, 'forged')).status, 403);
  const headers = await passwordLogin();
  const noXsrf = await fetch(`${server.url}/api/kernels`, { method: 'POST', headers: { Cookie: headers.Cookie } });
  assert.equal(noXsrf.status, 403);
  assert.equal((await fetch(`${server.url}/api/kernels`, { headers: { Cookie: headers.Cookie } })).status, 200);
});
