// Minimal room client for the native protocol (docs/protocol.md). User text is set with
// textContent only, never as HTML.
"use strict";
(function () {
  const room = JSON.parse(document.getElementById("room-name").textContent);
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let lastId = 0;
  let socket;
  function add(msg) {
    if (msg.id <= lastId) return;
    lastId = msg.id;
    const li = document.createElement("li");
    li.dataset.id = msg.id;
    li.textContent = msg.sender + ": " + msg.message;
    log.appendChild(li);
  }
  function connect() {
    const query = lastId ? "?after=" + lastId : "";
    socket = new WebSocket(scheme + "://" + location.host + "/ws/rooms/" + encodeURIComponent(room) + "/" + query);
    socket.onopen = () => { status.textContent = "live"; };
    socket.onclose = () => { status.textContent = "reconnecting"; setTimeout(connect, 1000); };
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "history") frame.messages.forEach(add);
      else if (frame.type === "message") add(frame);
    };
  }
  document.getElementById("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("message");
    if (input.value.trim() && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "message", message: input.value }));
      input.value = "";
    }
  });
  connect();
})();
