// WebSocket-Node (npm `websocket`), a third WebSocket server nobody on this project wrote. Its defaults are kept on
// purpose: it refuses frames over 64 KiB with close code 1009, a real server's "message too big". Echoes on any path;
// prints "listening <port>" once it accepts connections on 127.0.0.1 ($PORT, 0 for any).
const http = require('http');
const WebSocketServer = require('websocket').server;

const server = http.createServer((req, res) => {
  res.writeHead(426);
  res.end();
});
const wss = new WebSocketServer({ httpServer: server, autoAcceptConnections: false });
wss.on('request', (request) => {
  const connection = request.accept(null, request.origin);
  connection.on('message', (message) => {
    if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
    else connection.sendBytes(message.binaryData);
  });
});
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
