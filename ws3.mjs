import WebSocket from "/work/wt/ot-pty/tests/terminal-client/node_modules/ws/index.js";
const [,, id, token, user] = process.argv;
const ws = new WebSocket(`ws://127.0.0.1:18731/terminal/api/terminals/${id}?user_id=${user}`);
ws.on("open", () => { ws.send(JSON.stringify({type: "auth", token})); setTimeout(() => { ws.send(Buffer.from("yes slowreader-line | head -c 32000000; echo fin\r")); setTimeout(() => ws._socket.pause(), 300); }, 1000); });
setTimeout(() => { process.exit(0); }, 12000);
