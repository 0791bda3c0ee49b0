'use strict';
// One client session's connection to the warehouse PostgreSQL (trust
// authentication on loopback), with the startup handshake done.

const net = require('node:net');
const { once } = require('node:events');
const { MessageStream, frontend, parseFields, parseBody } = require('./protocol');
const { UpstreamError } = require('./errors');

class Upstream {
  constructor(socket) {
    this.socket = socket;
    this.stream = new MessageStream(socket);
    this.parameters = [];
    this.pid = 0;
    this.key = 0;
    socket.setNoDelay(true);
  }

  // params: startup parameters (user, database, ...). Resolves once the
  // warehouse is ready for queries; rejects with UpstreamError (e.g. unknown
  // database) or a connection error.
  static async connect({ host, port, params }) {
    const socket = net.connect({ host, port });
    socket.on('error', () => {}); // surfaced through the stream's end
    await Promise.race([
      once(socket, 'connect'),
      once(socket, 'error').then(([e]) => { throw e; }),
    ]);
    const up = new Upstream(socket);
    socket.write(frontend.startup(params));
    for (;;) {
      const msg = await up.stream.next();
      if (!msg) throw new Error('the warehouse closed the connection during startup');
      if (msg.type === 'R') {
        const code = msg.body.readInt32BE(0);
        if (code !== 0) {
          up.close();
          throw new Error(`the warehouse asked for authentication (code ${code}); it must trust loopback connections`);
        }
      } else if (msg.type === 'S') up.parameters.push(parseBody.parameterStatus(msg.body));
      else if (msg.type === 'K') Object.assign(up, parseBody.backendKeyData(msg.body));
      else if (msg.type === 'E') {
        up.close();
        throw new UpstreamError(parseFields(msg.body));
      } else if (msg.type === 'Z') return up;
    }
  }

  write(buf) {
    if (!this.socket.destroyed) this.socket.write(buf);
  }

  // Writes and waits while the socket's buffer is full (COPY data).
  async writeAsync(buf) {
    if (this.socket.destroyed) throw new Error('the warehouse connection is closed');
    if (!this.socket.write(buf)) {
      await Promise.race([once(this.socket, 'drain'), once(this.socket, 'close')]);
    }
  }

  close() {
    if (!this.socket.destroyed) {
      this.socket.end(frontend.terminate());
      this.socket.destroy();
    }
  }
}

// A CancelRequest for a warehouse backend, on a connection of its own.
function sendCancel({ host, port, pid, key }) {
  const socket = net.connect({ host, port }, () => socket.end(frontend.cancel(pid, key)));
  socket.on('error', () => {});
  socket.setTimeout(5000, () => socket.destroy());
}

module.exports = { Upstream, sendCancel };
