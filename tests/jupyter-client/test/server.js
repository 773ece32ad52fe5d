'use strict';
// Where the Warden server under test is. run.sh starts one real `warden serve` and exports WARDEN_URL,
// WARDEN_TOKEN and WARDEN_PASSWORD; without WARDEN_URL a test file starts its own server.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const repo = path.resolve(__dirname, '..', '..', '..');
const TOKEN = process.env.WARDEN_TOKEN || 'jupyter-test-token';
const PASSWORD = process.env.WARDEN_PASSWORD || 'jupyter-test-password';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitHealthy(url, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`warden exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${url}/api/v1/health`);
      if (response.ok) return;
    } catch { /* not listening yet */ }
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error(`warden did not become healthy at ${url}`);
}

/** Starts `warden serve` on a free loopback port; returns { url, stop }. */
async function startServer(extraEnv = {}) {
  const bin = process.env.WARDEN_BIN || path.join(repo, 'src/Warden.Cli/bin/Release/net10.0/warden');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // A state directory of its own: one Warden process per state directory (a second one refuses to start).
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-jupyter-state-'));
  const child = spawn(bin, ['serve'], {
    env: {
      PATH: process.env.PATH, HOME: process.env.HOME, WARDEN_URLS: url, WARDEN_STATE_DIR: state, WARDEN_API_KEY: TOKEN,
      WARDEN_JUPYTER_PASSWORD: PASSWORD, WARDEN_MAX_CONCURRENT: '2', ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', d => { log += d; });
  child.stderr.on('data', d => { log += d; });
  try {
    await waitHealthy(url, child, 60000);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n${log}`);
  }
  const removeState = () => fs.rmSync(state, { recursive: true, force: true });
  const stop = () => new Promise(resolve => {
    if (child.exitCode !== null) { removeState(); return resolve(); }
    child.once('exit', () => { removeState(); resolve(); });
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 15000).unref();
  });
  return { url, stop, log: () => log };
}

/** The shared server (from run.sh) or a fresh one for this file. */
async function useServer() {
  if (process.env.WARDEN_URL) return { url: process.env.WARDEN_URL.replace(/\/$/, ''), stop: async () => {} };
  return startServer();
}

module.exports = { TOKEN, PASSWORD, startServer, useServer };
