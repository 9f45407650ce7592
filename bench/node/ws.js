// The bare `ws` peer: Node's most used WebSocket server, no framework, no store, no Redis.
// The tutorial's wire format (/ws/chat/<room>/, {"message": ...}); each message is encoded once and
// written to every member of the room (as bench/floor.py does with Python's websockets).
"use strict";
const http = require("node:http");
const { WebSocketServer } = require("ws");

const rooms = new Map();
const server = http.createServer((_req, res) => {
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 });

wss.on("connection", (ws, req) => {
  const path = req.url;
  let room = rooms.get(path);
  if (!room) {
    room = new Set();
    rooms.set(path, room);
  }
  room.add(ws);
  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    let message;
    try {
      message = JSON.parse(data.toString()).message;
    } catch {
      return;
    }
    if (message === undefined) return;
    const frame = JSON.stringify({ message });
    for (const member of room) member.send(frame);
  });
  ws.on("close", () => {
    room.delete(ws);
    if (room.size === 0) rooms.delete(path);
  });
});

server.listen(Number(process.env.PORT || 8003), process.env.HOST || "127.0.0.1");
