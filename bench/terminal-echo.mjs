// Keystroke echo round trip of an interactive terminal: one byte sent, until its echo comes back. Targets, interleaved
// round by round so a noisy machine shifts them alike:
//   host        a bare PTY on this host: `script` running `bash -i` (the echo of a PTY with nothing in between);
//   <backend>   a Warden terminal over its WebSocket on loopback (POST /terminal/api/terminals, auth frame, binary keys).
// Usage: node terminal-echo.mjs ROUNDS KEY name=http://127.0.0.1:port ...   (run by terminal-echo.sh)
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
// ws comes from the terminal client test package (tests/terminal-client: npm ci there).
const WebSocket = createRequire(path.join(here, "..", "tests", "terminal-client", "package.json"))("ws");
const [rounds, key, ...targetArgs] = process.argv.slice(2);
const perRound = 10;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A stream of output with "wait until this byte shows up after now". */
function echoWaiter() {
  let pending = null;
  return {
    feed(data) {
      if (pending && data.includes(pending.byte)) { const p = pending; pending = null; p.resolve(); }
    },
    next(byte, seconds = 10) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no echo of ${String.fromCharCode(byte)} in ${seconds}s`)), seconds * 1000);
        pending = { byte, resolve: () => { clearTimeout(timer); resolve(); } };
      });
    },
  };
}

async function quiet(target, ms) {
  // Lets the prompt or a line erase finish arriving before the next timed keystroke.
  let last = target.lastOutput;
  do { last = target.lastOutput; await sleep(ms); } while (target.lastOutput !== last);
}

async function hostTarget() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "echo-bench-"));
  const child = spawn("script", ["-q", "-c", "bash --norc --noprofile -i", "/dev/null"], {
    env: { PATH: process.env.PATH, HOME: home, TERM: "xterm-256color", PS1: "$ " },
    cwd: home,
    stdio: ["pipe", "pipe", "ignore"],
  });
  const waiter = echoWaiter();
  const target = { name: "host (script + bash -i)", lastOutput: 0 };
  child.stdout.on("data", (d) => { target.lastOutput++; waiter.feed(d); });
  target.send = (bytes) => child.stdin.write(Buffer.from(bytes));
  target.waiter = waiter;
  target.close = () => { child.kill("SIGKILL"); fs.rmSync(home, { recursive: true, force: true }); };
  await sleep(300);
  await quiet(target, 200);
  return target;
}

async function wardenTarget(name, base) {
  const headers = { Authorization: `Bearer ${key}`, "X-User-Id": "echo-bench", "X-Session-Id": "echo-bench", "Content-Type": "application/json" };
  const created = await fetch(`${base}/terminal/api/terminals`, { method: "POST", headers, body: JSON.stringify({ cols: 80, rows: 24 }) });
  if (created.status !== 200) throw new Error(`${name}: POST /terminal/api/terminals answered ${created.status}: ${await created.text()}`);
  const { id } = await created.json();
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}/terminal/api/terminals/${id}?user_id=echo-bench`);
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  const waiter = echoWaiter();
  const target = { name: `warden ${name} (WebSocket)`, lastOutput: 0 };
  ws.on("message", (d) => { target.lastOutput++; waiter.feed(d); });
  ws.send(JSON.stringify({ type: "auth", token: key }));
  ws.send(JSON.stringify({ type: "resize", cols: 80, rows: 24 }));
  target.send = (bytes) => ws.send(Buffer.from(bytes), { binary: true });
  target.waiter = waiter;
  target.close = () => ws.close();
  // The login shell's first prompt.
  const deadline = Date.now() + 30000;
  while (target.lastOutput === 0 && Date.now() < deadline) await sleep(50);
  if (target.lastOutput === 0) throw new Error(`${name}: the terminal printed no prompt`);
  await quiet(target, 300);
  return target;
}

async function keystrokes(target, samples) {
  for (let i = 0; i < perRound; i++) {
    const byte = 0x61 + (i % 26);
    const echoed = target.waiter.next(byte);
    const t0 = process.hrtime.bigint();
    target.send([byte]);
    await echoed;
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  target.send([0x15]); // Ctrl-U: erase the typed line, so the prompt line never grows
  await quiet(target, 30);
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const targets = [await hostTarget()];
for (const arg of targetArgs) {
  const at = arg.indexOf("=");
  targets.push(await wardenTarget(arg.slice(0, at), arg.slice(at + 1)));
}
const samples = new Map(targets.map((t) => [t, []]));
try {
  for (const t of targets) await keystrokes(t, []); // warm-up
  for (let r = 0; r < Number(rounds); r++) {
    const order = [...targets].sort(() => Math.random() - 0.5);
    for (const t of order) await keystrokes(t, samples.get(t));
  }
} finally {
  for (const t of targets) t.close();
}
console.log(`keystroke echo round trip, ${rounds} rounds x ${perRound} keys per target, interleaved (ms)`);
console.log("| target | n | p50 | p95 | max |");
console.log("|---|---:|---:|---:|---:|");
for (const t of targets) {
  const s = samples.get(t).sort((a, b) => a - b);
  console.log(`| ${t.name} | ${s.length} | ${pct(s, 50).toFixed(2)} | ${pct(s, 95).toFixed(2)} | ${s[s.length - 1].toFixed(2)} |`);
}
