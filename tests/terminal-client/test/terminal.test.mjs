// xterm.js in headless Chromium (playwright-core driving Debian's /usr/bin/chromium) against a real `warden serve`:
// creates a terminal over HTTP as Open WebUI does, attaches the page's WebSocket, types with the keyboard and reads
// what xterm.js rendered. WARDEN_URL / WARDEN_TOKEN come from run.sh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const base = process.env.WARDEN_URL;
const token = process.env.WARDEN_TOKEN;
const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.join(here, "..");
const files = {
  "/": ["page.html", "text/html"],
  "/xterm.js": ["node_modules/@xterm/xterm/lib/xterm.js", "text/javascript"],
  "/xterm.css": ["node_modules/@xterm/xterm/css/xterm.css", "text/css"],
};
let server, pageBase, context, profile;

before(async () => {
  server = http.createServer((req, res) => {
    const file = files[new URL(req.url, "http://x").pathname];
    if (!file) { res.writeHead(404).end(); return; }
    res.writeHead(200, { "content-type": file[1] }).end(fs.readFileSync(path.join(root, file[0])));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  pageBase = `http://127.0.0.1:${server.address().port}/`;
  profile = fs.mkdtempSync(path.join(os.tmpdir(), "warden-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

after(async () => {
  await context?.close();
  server?.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

function headers(user, chat) {
  return { Authorization: `Bearer ${token}`, "X-User-Id": user, "X-Session-Id": chat, "Content-Type": "application/json" };
}

async function createTerminal(user, chat) {
  const response = await fetch(`${base}/terminal/api/terminals`, { method: "POST", headers: headers(user, chat) });
  assert.equal(response.status, 200, await response.clone().text());
  const body = await response.json();
  assert.deepEqual(Object.keys(body), ["id", "created_at", "pid"]);
  return body.id;
}

async function openPage(id, user, key) {
  const ws = `${base.replace(/^http/, "ws")}/terminal/api/terminals/${id}?user_id=${encodeURIComponent(user)}`;
  const page = await context.newPage();
  await page.goto(`${pageBase}?ws=${encodeURIComponent(ws)}&token=${encodeURIComponent(key)}`);
  return page;
}

async function waitForLine(page, predicate, what, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  let lines = [];
  while (Date.now() < deadline) {
    lines = await page.evaluate(() => window.screenText());
    if (lines.some(predicate)) return lines;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`xterm.js never showed ${what}; screen:\n${lines.join("\n")}`);
}

test("typing into xterm.js runs in the user's sandbox shell, and a resize reaches stty", async () => {
  const id = await createTerminal("xterm-alice", "chat-xterm");
  const page = await openPage(id, "xterm-alice", token);
  try {
    await waitForLine(page, (l) => /\$ ?$/.test(l.trimEnd()), "a prompt");
    await page.click(".xterm");
    await page.keyboard.type("echo $((6*7))");
    await page.keyboard.press("Enter");
    await waitForLine(page, (l) => l.trim() === "42", "42 on a line of its own");

    await page.evaluate(() => window.term.resize(100, 30));
    await page.keyboard.type("stty size; pwd");
    await page.keyboard.press("Enter");
    await waitForLine(page, (l) => l.trim() === "30 100", "stty size reporting the resize");
    await waitForLine(page, (l) => l.trim() === "/home/user/chats/chat-xterm", "the chat's working directory");
  } finally {
    await page.close();
  }
  // Closing the page closed the WebSocket, and with it the terminal.
  let status = 0;
  for (let i = 0; i < 50 && status !== 404; i++) {
    status = (await fetch(`${base}/terminal/api/terminals/${id}`, { headers: headers("xterm-alice", "chat-xterm") })).status;
    if (status !== 404) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, 404);
});

test("a wrong token in the first frame closes with 4001 and the shell never sees a keystroke", async () => {
  const id = await createTerminal("xterm-bob", "chat-xterm");
  const page = await openPage(id, "xterm-bob", "not-the-key");
  try {
    await page.click(".xterm");
    await page.keyboard.type("touch ~/typed-without-auth");
    await page.keyboard.press("Enter");
    const closed = await page.waitForFunction(() => window.wsClosed, null, { timeout: 20000 });
    assert.deepEqual(await closed.jsonValue(), { code: 4001, reason: "Invalid API key" });
  } finally {
    await page.close();
  }
  const listing = await fetch(`${base}/terminal/files/list?directory=/home/user`, { headers: headers("xterm-bob", "chat-xterm") });
  assert.equal(listing.status, 200);
  assert.ok(!JSON.stringify(await listing.json()).includes("typed-without-auth"));
  const deleted = await fetch(`${base}/terminal/api/terminals/${id}`, { method: "DELETE", headers: headers("xterm-bob", "chat-xterm") });
  assert.deepEqual(await deleted.json(), { status: "deleted" });
});
