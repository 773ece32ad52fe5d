import WebSocket from "/work/wt/ot-pty/tests/terminal-client/node_modules/ws/index.js";
const [,, id, token, user] = process.argv;
const ws = new WebSocket(`ws://127.0.0.1:18731/terminal/api/terminals/${id}?user_id=${user}`);
ws.on("open", () => { ws.send(JSON.stringify({type: "auth", token})); ws.send(JSON.stringify({type:"resize",cols:80,rows:24})); ws.send(Buffer.from("touch x\r")); });
ws.on("close", (code, reason) => { console.log("close", code, reason.toString()); process.exit(0); });
setTimeout(() => { console.log("timeout; state", ws.readyState); process.exit(1); }, 15000);
