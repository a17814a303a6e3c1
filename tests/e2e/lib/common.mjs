// Shared by the e2e helpers (no imports of other helpers, so none of them import in a cycle).
import { join, resolve } from 'node:path';
import net from 'node:net';
import { createSign, generateKeyPairSync, randomInt } from 'node:crypto';

export const ROOT = resolve(new URL('../../..', import.meta.url).pathname);

// `make test` runs the suite on both stores at once (two test processes), so what one writes under
// build/ is the store's own: screenshots go to build/screenshots on SQLite, build/screenshots-pg
// on PostgreSQL.
export const ON_POSTGRES = process.env.JG_E2E_DB === 'postgres';
export const SHOTS = join(ROOT, 'build', ON_POSTGRES ? 'screenshots-pg' : 'screenshots');

// A port nothing listens on now, for a server a test starts.  `make test` runs the suite on both
// stores at once (two test processes), so each takes its ports from its own range below the
// kernel's ephemeral ports (32768-60999 here, which connect() and bind(0) hand out): a port one
// suite just checked is never the next the other takes, and no outgoing connection holds one.
// Within one test process a port is never handed out twice either: two calls in a row (the
// provider's port, then jitgate's) must not get the same one before the first server listens.
const PORTS = ON_POSTGRES ? { from: 21000, count: 11000 } : { from: 10000, count: 11000 };
const portsGiven = new Set();

function listenable(port) {
  return new Promise((ok) => {
    const s = net.createServer();
    s.once('error', () => ok(false));
    s.listen(port, '127.0.0.1', () => s.close(() => ok(true)));
  });
}

export async function freePort() {
  for (let tries = 0; tries < 1000; tries++) {
    const port = PORTS.from + randomInt(PORTS.count);
    if (!portsGiven.has(port) && await listenable(port)) {
      portsGiven.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${PORTS.from}-${PORTS.from + PORTS.count - 1}`);
}

// A JWT signed by a key the provider never published: its kid makes jitgate fetch the JWKS.
export function unknownKidToken() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'RS256', typ: 'at+jwt', kid: `unknown-${now}-${Math.random()}` })}.${b64({ iss: 'x', sub: 'mallory', iat: now, exp: now + 300 })}`;
  const sig = createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url');
  return `${input}.${sig}`;
}

// Replaces a running development provider (idp.mjs) by one that accepts connections on the same port
// and never sends a byte.  Returns { held: the accepted sockets, close() }.
export async function hangProvider(idp) {
  const port = Number(new URL(idp.url).port);
  await idp.kill();
  const held = [];
  const server = net.createServer((s) => { held.push(s); s.on('error', () => {}); });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return { held, close() { server.close(); for (const s of held) s.destroy(); } };
}
