// Shared by the e2e helpers (no imports of other helpers, so none of them import in a cycle).
import { resolve } from 'node:path';
import net from 'node:net';
import { createSign, generateKeyPairSync } from 'node:crypto';

export const ROOT = resolve(new URL('../../..', import.meta.url).pathname);

// A port nothing listens on now.  The kernel may give a port it just gave back to the next bind(0),
// so two calls in a row (the provider's port, then jitgate's) could get the same one and the second
// server would fail to listen: a port is never handed out twice in one test process.
const portsGiven = new Set();

export async function freePort() {
  for (;;) {
    const port = await new Promise((ok, fail) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const { port: p } = s.address();
        s.close(() => ok(p));
      });
      s.on('error', fail);
    });
    if (!portsGiven.has(port)) {
      portsGiven.add(port);
      return port;
    }
  }
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
