'use strict';
// Warden's JavaScript kernel driver: cells run in one persistent `vm` context. Protocol: README.md next to this file.
// Started by /bin/sh with the protocol moved to fds 3 (requests) and 4 (messages), stdin on /dev/null and fd 1 on
// fd 2: console output is captured in-process; a child process that inherits fd 1 only reaches the kernel's stderr.
const fs = require('node:fs');
const readline = require('node:readline');
const util = require('node:util');
const vm = require('node:vm');
const { createRequire } = require('node:module');

const REQUESTS = 3, MESSAGES = 4;
let cellId = null;

function send(message) {
  fs.writeSync(MESSAGES, JSON.stringify(message) + '\n');
}

function stream(name, text) {
  if (cellId !== null && text.length > 0) send({ type: 'stream', id: cellId, name, text });
}

const format = args => util.formatWithOptions({ colors: false, depth: 4 }, ...args) + '\n';
const userConsole = {
  log: (...a) => stream('stdout', format(a)), info: (...a) => stream('stdout', format(a)), debug: (...a) => stream('stdout', format(a)),
  error: (...a) => stream('stderr', format(a)), warn: (...a) => stream('stderr', format(a)), trace: (...a) => stream('stderr', format(a)),
  dir: (o, options) => stream('stdout', util.inspect(o, { colors: false, ...options }) + '\n'),
  table: (...a) => stream('stdout', format(a)),
};
process.stdout.write = (chunk, encoding, callback) => { stream('stdout', String(chunk)); if (typeof callback === 'function') callback(); return true; };
process.stderr.write = (chunk, encoding, callback) => { stream('stderr', String(chunk)); if (typeof callback === 'function') callback(); return true; };

const context = vm.createContext({
  console: userConsole, process, Buffer, URL, URLSearchParams, TextEncoder, TextDecoder, structuredClone, fetch: globalThis.fetch,
  setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, clearImmediate, queueMicrotask,
  require: createRequire('/sandbox/'),
});
context.globalThis = context;

// Between cells SIGINT is ignored; while a cell's promise is pending it rejects that promise; while synchronous
// code runs, vm's breakOnSigint throws inside it.
let interruptPending = null;
process.on('SIGINT', () => { if (interruptPending) interruptPending(new InterruptError()); });

class InterruptError extends Error {
  constructor() { super('interrupted'); this.name = 'KeyboardInterrupt'; }
}

function traceback(error) {
  if (!(error instanceof Error) && !(error && error.stack)) return [String(error)];
  return String(error.stack).split('\n').filter(line => !/warden_kernel\.js|node:vm|node:internal/.test(line));
}

async function runCell(code, number) {
  let value;
  try {
    const filename = `cell-${number}.js`;
    let script;
    try {
      script = new vm.Script(code, { filename });
    } catch (error) {
      if (!(error instanceof SyntaxError) || !/await/.test(error.message)) throw error;
      // Top-level await: run the cell as an async function (its last value is then not shown).
      script = new vm.Script(`(async () => {\n${code}\n})()`, { filename, lineOffset: -1 });
    }
    value = script.runInContext(context, { breakOnSigint: true });
    if (value && typeof value.then === 'function') {
      value = await new Promise((resolve, reject) => { interruptPending = reject; value.then(resolve, reject); });
    }
  } catch (error) {
    const interrupted = error instanceof InterruptError || (error && error.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED');
    send({
      type: 'error', id: cellId, ename: interrupted ? 'KeyboardInterrupt' : (error && error.name) || 'Error',
      evalue: interrupted ? 'interrupted' : (error && error.message) || String(error), traceback: interrupted ? ['KeyboardInterrupt'] : traceback(error),
    });
    return 'error';
  } finally {
    interruptPending = null;
  }
  if (value !== undefined) {
    context._ = value;
    send({ type: 'result', id: cellId, data: { 'text/plain': util.inspect(value, { colors: false, depth: 4 }) }, metadata: {} });
  }
  return 'ok';
}

async function main() {
  send({ type: 'ready', implementation: 'warden-javascript', language_version: process.versions.node });
  const lines = readline.createInterface({ input: fs.createReadStream(null, { fd: REQUESTS }), crlfDelay: Infinity });
  let number = 0;
  for await (const line of lines) {
    const request = JSON.parse(line);
    if (request.op !== 'execute') break;
    cellId = request.id;
    const status = await runCell(request.code, ++number);
    send({ type: 'done', id: cellId, status });
    cellId = null;
  }
  process.exit(0);
}

main();
