// The Socket.IO peer: socket.io 4 with @socket.io/redis-adapter, set up to scale out (every
// broadcast is also published to Redis for the other nodes, as in a deployment of several).
// A client joins a room with the event "join" (answered by "joined"); its event "message" (a text)
// is broadcast to its room as the event "message". WebSocket only, no long-polling, no compression.
"use strict";
const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

async function main() {
  const pubClient = createClient({ url: process.env.REDIS_URL || "redis://127.0.0.1:6379/0" });
  const subClient = pubClient.duplicate();
  await Promise.all([pubClient.connect(), subClient.connect()]);
  const server = http.createServer();
  const io = new Server(server, {
    transports: ["websocket"],
    perMessageDeflate: false,
    httpCompression: false,
    serveClient: false,
    maxHttpBufferSize: 64 * 1024,
    adapter: createAdapter(pubClient, subClient, { key: process.env.BENCH_REDIS_PREFIX || "socket.io" }),
  });
  // Anything but /socket.io/ (the bench's readiness probe): 404.
  server.on("request", (req, res) => {
    if (!req.url.startsWith("/socket.io/")) res.writeHead(404).end();
  });
  io.on("connection", (socket) => {
    socket.on("join", (room) => {
      socket.join(room);
      socket.data.room = room;
      socket.emit("joined", room);
    });
    socket.on("message", (text) => {
      if (socket.data.room !== undefined) io.to(socket.data.room).emit("message", text);
    });
  });
  server.listen(Number(process.env.PORT || 8004), process.env.HOST || "127.0.0.1");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
