// Every remote call has a timeout, PostgreSQL's included: a server that accepts and then says nothing fails the
// connection at connectTimeoutMs, and one that logs the agent in and then never answers a statement fails it at
// queryTimeoutMs (and is left without waiting for its goodbye). A fake server speaks just enough of the protocol.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { MirrornetError } from '../../src/errors.js';
import { HarborInstance } from '../../src/model/schema.js';
import { pgConnector } from '../../src/providers/postgres/index.js';

const INSTANCE = HarborInstance.parse(parse(readFileSync(fileURLToPath(new URL('../../../../harbor/harbor-cn-beijing.yaml', import.meta.url)), 'utf8')));

/** A server that answers the startup message with `startup` (or nothing) and never answers anything after it. */
async function fakePostgres(startup: Buffer | undefined): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => {
      if (startup) socket.write(startup);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

/** AuthenticationOk, then ReadyForQuery (idle). */
const LOGGED_IN = Buffer.concat([message('R', Buffer.from([0, 0, 0, 0])), message('Z', Buffer.from('I', 'latin1'))]);

describe('postgres connector timeouts', function () {
  let fake: Awaited<ReturnType<typeof fakePostgres>> | undefined;
  afterEach(async function () {
    for (const s of fake?.sockets ?? []) s.destroy();
    await new Promise<void>((resolve) => (fake ? fake.server.close(() => resolve()) : resolve()));
    fake = undefined;
  });

  it('a server that never finishes the login fails the connection at connectTimeoutMs', async function () {
    fake = await fakePostgres(undefined);
    const connector = pgConnector({ host: '127.0.0.1', port: fake.port, user: 'postgres', connectTimeoutMs: 300 });
    await assert.rejects(connector.admin(INSTANCE), /timeout/i);
  });

  it('a server that logs in and never answers a statement fails it at queryTimeoutMs', async function () {
    fake = await fakePostgres(LOGGED_IN);
    const connector = pgConnector({ host: '127.0.0.1', port: fake.port, user: 'postgres', connectTimeoutMs: 5000, queryTimeoutMs: 300 });
    // The first statement is the session's own `SET statement_timeout`: the login does not hang on it.
    await assert.rejects(connector.admin(INSTANCE), (err: unknown) => {
      assert.ok(err instanceof MirrornetError);
      assert.match(err.message, /Query read timeout/);
      assert.match(err.userMessage, new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${fake!.port}`));
      return true;
    });
  });
});
