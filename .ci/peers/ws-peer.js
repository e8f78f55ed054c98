// A scripted WebSocket server on npm's `ws` (a server nobody on this project wrote), for Parley's interop specs.
// It listens on 127.0.0.1:$PORT and prints "listening <port>" once it accepts connections. What it does depends on
// the request path; see ScriptedWsPeer.kt for the list. PMD=1 turns permessage-deflate on; PMD_OPTIONS (JSON) adds
// ws's perMessageDeflate options to it (serverNoContextTakeover, serverMaxWindowBits, threshold, ...).
const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.env.PORT || 0);
const deflate = process.env.PMD === '1' ? JSON.parse(process.env.PMD_OPTIONS || '{}') : false;
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: deflate, maxPayload: 64 << 20 });
const server = http.createServer((req, res) => {
  res.writeHead(426, { 'Content-Type': 'text/plain' });
  res.end('WebSocket only');
});

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://peer');
  const query = url.searchParams;
  if (url.pathname === '/reject') {
    const status = Number(query.get('status') || 403);
    socket.end(`HTTP/1.1 ${status} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const echo = (data, isBinary) => ws.send(data, { binary: isBinary });
    switch (url.pathname) {
      case '/echo':
        ws.on('message', echo);
        break;
      case '/fragments': {
        // Echoes each message as `count` frames: a fragmented message (compressed as one, if deflate is on).
        const count = Number(query.get('count') || 3);
        ws.on('message', (data, isBinary) => {
          const size = Math.ceil(data.length / count);
          for (let i = 0; i < count; i += 1) {
            ws.send(data.subarray(i * size, (i + 1) * size), { binary: isBinary, fin: i === count - 1 });
          }
        });
        break;
      }
      case '/extensions':
        // Answers with the Sec-WebSocket-Extensions header the server sent, as the client sees it.
        ws.send(`extensions ${req.headers['sec-websocket-extensions'] || ''}`);
        ws.on('message', echo);
        break;
      case '/ping': {
        // Pings every `every` ms with a payload, and echoes; the client's pongs are counted and reported on request.
        let pongs = 0;
        ws.on('pong', () => { pongs += 1; });
        const timer = setInterval(() => ws.ping('peer-ping'), Number(query.get('every') || 200));
        ws.on('message', (data, isBinary) => {
          if (!isBinary && data.toString() === 'pongs?') ws.send(`pongs ${pongs}`);
          else echo(data, isBinary);
        });
        ws.on('close', () => clearInterval(timer));
        break;
      }
      case '/jsonrpc':
        // A JSON-RPC 2.0 server, as exchange APIs are: `echo` answers with its params, `later` after params.ms
        // milliseconds, `fail` with error -32000, `notify` first sends a notification (no id) and then its answer;
        // `public/subscribe` confirms params.channels (error -32602 if one starts with `bad.`, no answer at all if one
        // starts with `silent.`) and then sends one `subscription` notification per channel; `public/unsubscribe`
        // confirms; `public/subscribed` lists this connection's subscribe calls in order; `drop` drops TCP.
        // Heartbeats as Deribit's: `public/test` answers with a version; `public/set_heartbeat` first sends a
        // `test_request` notification, then its answer; `public/test_count` says how many `public/test` calls came;
        // `stall` stops the application (nothing is answered any more) while the WebSocket layer still answers pings
        // and sends its own every 50 ms. Any other method is -32601. Messages that are not requests with an id get no
        // answer.
        const subscribed = [];
        let tests = 0;
        let stalled = false;
        ws.on('message', (data) => {
          if (stalled) return;
          let request;
          try { request = JSON.parse(data.toString()); } catch (e) { return; }
          if (request === null || typeof request !== 'object' || request.id === undefined) return;
          const answer = (body) => ws.send(JSON.stringify(Object.assign({ jsonrpc: '2.0', id: request.id }, body)));
          const params = request.params === undefined ? null : request.params;
          switch (request.method) {
            case 'echo': answer({ result: params }); break;
            case 'later': setTimeout(() => answer({ result: params }), Number((params && params.ms) || 0)); break;
            case 'fail': answer({ error: { code: -32000, message: 'failed as asked', data: params } }); break;
            case 'notify':
              ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'heartbeat', params: { type: 'notice' } }));
              answer({ result: 'notified' });
              break;
            case 'public/subscribe': {
              const channels = (params && params.channels) || [];
              if (channels.some((c) => c.startsWith('silent.'))) break;
              if (channels.some((c) => c.startsWith('bad.'))) {
                answer({ error: { code: -32602, message: 'Invalid params', data: { reason: 'unknown channel' } } });
                break;
              }
              subscribed.push(...channels);
              answer({ result: channels });
              channels.forEach((c) => ws.send(JSON.stringify(
                { jsonrpc: '2.0', method: 'subscription', params: { channel: c, data: { first: true } } })));
              break;
            }
            case 'public/unsubscribe': answer({ result: (params && params.channels) || [] }); break;
            case 'public/subscribed': answer({ result: subscribed }); break;
            case 'drop': ws._socket.destroy(); break;
            case 'public/test': tests += 1; answer({ result: { version: '1.2.26' } }); break;
            case 'public/set_heartbeat':
              ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'heartbeat', params: { type: 'test_request' } }));
              answer({ result: 'ok' });
              break;
            case 'public/test_count': answer({ result: tests }); break;
            case 'stall': {
              stalled = true;
              const timer = setInterval(() => ws.ping('still here'), 50);
              ws.on('close', () => clearInterval(timer));
              break;
            }
            default: answer({ error: { code: -32601, message: 'Method not found' } });
          }
        });
        break;
      case '/close':
        ws.close(Number(query.get('code') || 1000), query.get('reason') || '');
        break;
      case '/destroy': {
        // Echoes `after` messages, then drops TCP without a close frame.
        let seen = 0;
        ws.on('message', (data, isBinary) => {
          echo(data, isBinary);
          seen += 1;
          if (seen >= Number(query.get('after') || 1)) setImmediate(() => ws._socket.destroy());
        });
        break;
      }
      case '/silent':
        // Completes the upgrade, then never sends anything and never answers a ping: ws answers pings itself, so
        // the socket is paused to stop it reading at all.
        ws._socket.pause();
        break;
      default:
        ws.close(1008, 'unknown path');
    }
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
