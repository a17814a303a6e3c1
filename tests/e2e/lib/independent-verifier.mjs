// An independent verifier of jitgate audit exports, written from
// docs/audit-format.md alone (no jitgate code, no JSON library): it needs
// only node:crypto (SHA-256 and Ed25519).
//
//   verifyExport(exportBytes, verifierKeys, oldCheckpoint?)
//     -> { ok: true, origin, from, to, treeSize, root, entries, consistentWith? }
//      | { ok: false, seq?, why }
//
// exportBytes is the export file (a Buffer, or a string that is encoded as
// UTF-8); verifierKeys is a C2SP verifier key string
// "<name>+<8 hex key ID>+<base64(0x01 || Ed25519 public key)>" or an array of
// them; oldCheckpoint (a Buffer or string, optional) is an older signed
// checkpoint note the export must be consistent with.  seq, when present,
// names the first bad entry the way `jitgate audit verify` does: the
// position where the fault was found, except that a broken prev link names
// the entry before the link (an edited entry that is still well-formed is
// caught by the next entry's prev, and named).
//
// It also exports verifyInclusion / verifyConsistency (RFC 9162 2.1.3.2 and
// 2.1.4.2) for the proofs GET /v1/audit/proof and /v1/audit/consistency serve,
// and the building blocks (canonical-form check, note parsing) for tests.
import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';

// ---- hashing (RFC 6962 / RFC 9162) -------------------------------------------

function sha256(...parts) {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}
const ZERO = Buffer.from([0x00]);
const ONE = Buffer.from([0x01]);
export const leafHash = (entryBytes) => sha256(ZERO, entryBytes);
export const nodeHash = (left, right) => sha256(ONE, left, right);
export const EMPTY_ROOT = sha256();

// ---- small helpers ------------------------------------------------------------

class Fault extends Error {
  constructor(why, seq) {
    super(why);
    this.why = why;
    this.seq = seq;
  }
}
const fail = (why, seq) => { throw new Fault(why, seq); };
const MAX_U64 = (1n << 64n) - 1n;
const MIN_I64 = -(1n << 63n);
const MAX_I64 = (1n << 63n) - 1n;
const num = (b) => (b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b);
const popcount = (b) => { let c = 0; for (; b > 0n; b >>= 1n) c += Number(b & 1n); return c; };
const toBuffer = (x) => (Buffer.isBuffer(x) ? x : Buffer.from(String(x), 'utf8'));

const HEX64 = /^[0-9a-f]{64}$/;
function unhex32(s) {
  return typeof s === 'string' && HEX64.test(s) ? Buffer.from(s, 'hex') : null;
}

// Strict UTF-8 (RFC 3629): returns [code point, length] or null.
function utf8Next(buf, i) {
  const b0 = buf[i];
  let n, v, min;
  if (b0 < 0x80) return [b0, 1];
  if ((b0 & 0xe0) === 0xc0) { n = 2; v = b0 & 0x1f; min = 0x80; }
  else if ((b0 & 0xf0) === 0xe0) { n = 3; v = b0 & 0x0f; min = 0x800; }
  else if ((b0 & 0xf8) === 0xf0) { n = 4; v = b0 & 0x07; min = 0x10000; }
  else return null;
  if (i + n > buf.length) return null;
  for (let k = 1; k < n; k++) {
    if ((buf[i + k] & 0xc0) !== 0x80) return null;
    v = (v << 6) | (buf[i + k] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return null;
  return [v, n];
}

// Strict padded base64 (RFC 4648 section 4) in its one canonical spelling.
function b64decode(s) {
  if (s.length === 0 || s.length % 4 !== 0 || s.length > 65536) return null;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? b : null;
}

// ---- JSON: a strict scanner, and the canonical encoder -------------------------
//
// Values: {t:'obj', keys:[string], vals:[value]}, {t:'arr', items:[value]},
// {t:'str', s}, {t:'int', v: BigInt}, {t:'real'}, {t:'lit', s:'true'|'false'|'null'}.

const MAX_DEPTH = 32;

export function parseJson(buf) {
  let i = 0;
  const n = buf.length;
  const ws = () => { while (i < n && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x0a || buf[i] === 0x0d)) i++; };
  const bad = (what) => fail(`not JSON: ${what} at byte ${i}`);

  function hex4() {
    if (i + 4 > n) bad('short \\u escape');
    const s = buf.toString('latin1', i, i + 4);
    if (!/^[0-9A-Fa-f]{4}$/.test(s)) bad('bad \\u escape');
    i += 4;
    return parseInt(s, 16);
  }

  function string() {
    i++; // opening quote
    const cps = [];
    for (;;) {
      if (i >= n) bad('unterminated string');
      const c = buf[i];
      if (c === 0x22) { i++; break; }
      if (c < 0x20) bad('control character in string');
      if (c === 0x5c) {
        const e = buf[i + 1];
        i += 2;
        switch (e) {
          case 0x22: cps.push(0x22); break;
          case 0x5c: cps.push(0x5c); break;
          case 0x2f: cps.push(0x2f); break;
          case 0x62: cps.push(0x08); break;
          case 0x66: cps.push(0x0c); break;
          case 0x6e: cps.push(0x0a); break;
          case 0x72: cps.push(0x0d); break;
          case 0x74: cps.push(0x09); break;
          case 0x75: {
            let cp = hex4();
            if (cp >= 0xdc00 && cp <= 0xdfff) bad('lone low surrogate');
            if (cp >= 0xd800 && cp <= 0xdbff) {
              if (buf[i] !== 0x5c || buf[i + 1] !== 0x75) bad('lone high surrogate');
              i += 2;
              const lo = hex4();
              if (lo < 0xdc00 || lo > 0xdfff) bad('bad surrogate pair');
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp === 0) bad('U+0000 is not allowed');
            cps.push(cp);
            break;
          }
          default: bad('bad escape');
        }
        continue;
      }
      const u = utf8Next(buf, i);
      if (u === null) bad('invalid UTF-8');
      cps.push(u[0]);
      i += u[1];
    }
    let s = '';
    for (let k = 0; k < cps.length; k += 4096) s += String.fromCodePoint(...cps.slice(k, k + 4096));
    return s;
  }

  function number() {
    const start = i;
    let real = false;
    if (buf[i] === 0x2d) i++;
    if (buf[i] === 0x30) i++;
    else if (buf[i] >= 0x31 && buf[i] <= 0x39) while (buf[i] >= 0x30 && buf[i] <= 0x39) i++;
    else bad('bad number');
    if (buf[i] >= 0x30 && buf[i] <= 0x39) bad('leading zero');
    if (buf[i] === 0x2e) {
      real = true;
      i++;
      if (!(buf[i] >= 0x30 && buf[i] <= 0x39)) bad('bad fraction');
      while (buf[i] >= 0x30 && buf[i] <= 0x39) i++;
    }
    if (buf[i] === 0x65 || buf[i] === 0x45) {
      real = true;
      i++;
      if (buf[i] === 0x2b || buf[i] === 0x2d) i++;
      if (!(buf[i] >= 0x30 && buf[i] <= 0x39)) bad('bad exponent');
      while (buf[i] >= 0x30 && buf[i] <= 0x39) i++;
    }
    if (real) return { t: 'real' };
    const v = BigInt(buf.toString('latin1', start, i));
    if (v < MIN_I64 || v > MAX_I64) bad('integer out of the 64-bit range');
    return { t: 'int', v };
  }

  function value(depth) {
    if (depth > MAX_DEPTH) fail('not canonical: nested too deeply');
    ws();
    const c = buf[i];
    if (c === 0x7b) { // {
      i++;
      const keys = [], vals = [], seen = new Set();
      ws();
      if (buf[i] === 0x7d) { i++; return { t: 'obj', keys, vals }; }
      for (;;) {
        ws();
        if (buf[i] !== 0x22) bad('expected a key');
        const k = string();
        if (seen.has(k)) bad(`duplicate key '${k}'`);
        seen.add(k);
        ws();
        if (buf[i] !== 0x3a) bad("expected ':'");
        i++;
        keys.push(k);
        vals.push(value(depth + 1));
        ws();
        if (buf[i] === 0x2c) { i++; continue; }
        if (buf[i] === 0x7d) { i++; return { t: 'obj', keys, vals }; }
        bad("expected ',' or '}'");
      }
    }
    if (c === 0x5b) { // [
      i++;
      const items = [];
      ws();
      if (buf[i] === 0x5d) { i++; return { t: 'arr', items }; }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (buf[i] === 0x2c) { i++; continue; }
        if (buf[i] === 0x5d) { i++; return { t: 'arr', items }; }
        bad("expected ',' or ']'");
      }
    }
    if (c === 0x22) return { t: 'str', s: string() };
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return number();
    for (const lit of ['true', 'false', 'null']) {
      if (buf.toString('latin1', i, i + lit.length) === lit) { i += lit.length; return { t: 'lit', s: lit }; }
    }
    return bad('unexpected input');
  }

  ws();
  if (buf[i] !== 0x7b && buf[i] !== 0x5b) bad('a document must be an object or an array');
  const doc = value(0);
  ws();
  if (i !== n) bad('trailing data');
  return doc;
}

function escapeString(s) {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0c) out += '\\f';
    else if (c === 0x0d) out += '\\r';
    else if (c < 0x20) out += '\\u' + c.toString(16).toUpperCase().padStart(4, '0');
    else out += ch; // everything else raw, '/' and U+007F included
  }
  return out + '"';
}

// The canonical encoding of a parsed value (a JS string; its UTF-8 bytes are the entry).
export function encodeCanonical(v) {
  switch (v.t) {
    case 'obj': {
      const order = v.keys.map((k, idx) => idx)
        .sort((a, b) => Buffer.compare(Buffer.from(v.keys[a], 'utf8'), Buffer.from(v.keys[b], 'utf8')));
      return '{' + order.map((idx) => escapeString(v.keys[idx]) + ':' + encodeCanonical(v.vals[idx])).join(',') + '}';
    }
    case 'arr': return '[' + v.items.map(encodeCanonical).join(',') + ']';
    case 'str': return escapeString(v.s);
    case 'int': return v.v.toString();
    case 'lit': return v.s;
    default: throw new Fault('not canonical: numbers must be integers');
  }
}

function checkRules(v) {
  if (v.t === 'real') fail('not canonical: numbers must be integers');
  if (v.t === 'obj') {
    for (const k of v.keys) if (/[^\x00-\x7f]/.test(k)) fail('not canonical: object keys must be ASCII');
    v.vals.forEach(checkRules);
  } else if (v.t === 'arr') v.items.forEach(checkRules);
}

// Parses bytes that must be canonical JSON; returns the parsed value or throws a Fault.
export function parseCanonical(bytes) {
  const doc = parseJson(bytes);
  checkRules(doc);
  const again = Buffer.from(encodeCanonical(doc), 'utf8');
  if (!again.equals(bytes)) {
    fail('not canonical: key order, whitespace, escapes or number form differ from the canonical encoding');
  }
  return doc;
}

const get = (obj, key) => {
  const idx = obj.keys.indexOf(key);
  return idx < 0 ? undefined : obj.vals[idx];
};

// ---- audit entries --------------------------------------------------------------

const MAX_ENTRY = 65535; // 16-bit lengths in tlog-tiles entry bundles
const FIELDS = ['actor', 'data', 'prev', 'seq', 'ts', 'type', 'v'];
const TYPE_RE = /^[a-z][a-z0-9._-]{0,63}$/;

// Checks one entry's form; returns {seq: BigInt, prev: Buffer}.
export function parseEntry(bytes) {
  if (bytes.length > MAX_ENTRY) fail(`entry larger than ${MAX_ENTRY} bytes`);
  const e = parseCanonical(bytes);
  if (e.t !== 'obj') fail('entry is not a JSON object');
  if (e.keys.length !== FIELDS.length || !FIELDS.every((f) => e.keys.includes(f))) {
    fail('entry must have exactly the fields actor, data, prev, seq, ts, type, v');
  }
  const v = get(e, 'v'), seq = get(e, 'seq'), ts = get(e, 'ts'), type = get(e, 'type');
  const actor = get(e, 'actor'), data = get(e, 'data'), prev = get(e, 'prev');
  if (v.t !== 'int' || v.v !== 1n) fail('unknown entry version (v must be 1)');
  if (seq.t !== 'int' || seq.v < 0n) fail('seq must be a non-negative integer');
  if (ts.t !== 'int' || ts.v < 0n) fail('ts must be a non-negative integer (Unix milliseconds)');
  if (type.t !== 'str' || !TYPE_RE.test(type.s)) fail('type must match [a-z][a-z0-9._-]{0,63}');
  if (actor.t !== 'str' || actor.s.length === 0) fail('actor must be a non-empty string');
  if (data.t !== 'obj') fail('data must be an object');
  if (prev.t !== 'str' || !HEX64.test(prev.s)) fail('prev must be 64 lower-case hex digits');
  return { seq: seq.v, prev: Buffer.from(prev.s, 'hex') };
}

// ---- signed notes, checkpoints and verifier keys (C2SP) ----------------------------

const EM_DASH_SP = Buffer.from('\u2014 ', 'utf8'); // e2 80 94 20
const MAX_NOTE = 65536;

// Unicode White_Space (as Go's unicode.IsSpace), which key names exclude.
const isSpace = (c) => (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0x85 || c === 0xa0 || c === 0x1680 ||
  (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;

function validName(buf) {
  if (buf.length === 0) return false;
  for (let i = 0; i < buf.length;) {
    const u = utf8Next(buf, i);
    if (u === null || u[0] < 0x20 || isSpace(u[0]) || u[0] === 0x2b) return false;
    i += u[1];
  }
  return true;
}

function validText(buf) {
  for (let i = 0; i < buf.length;) {
    const u = utf8Next(buf, i);
    if (u === null || (u[0] < 0x20 && u[0] !== 0x0a)) return false;
    i += u[1];
  }
  return true;
}

export function keyId(name, pub) {
  return sha256(Buffer.from(name, 'utf8'), Buffer.from([0x0a, 0x01]), pub).readUInt32BE(0);
}

const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

// "<name>+<8 hex>+<base64(0x01 || key)>" -> {name, id, pub, key}; throws on anything else.
export function parseVerifierKey(s) {
  if (typeof s !== 'string' || Buffer.byteLength(s) >= 1024) fail('bad verifier key');
  const p1 = s.indexOf('+'), p2 = p1 < 0 ? -1 : s.indexOf('+', p1 + 1);
  if (p2 < 0) fail('bad verifier key');
  const name = s.slice(0, p1), hex = s.slice(p1 + 1, p2);
  const raw = b64decode(s.slice(p2 + 1));
  const nameBuf = Buffer.from(name, 'utf8');
  if (nameBuf.length > 255 || !validName(nameBuf) || !/^[0-9A-Fa-f]{8}$/.test(hex) || raw === null ||
      raw.length !== 33 || raw[0] !== 0x01) fail('bad verifier key');
  const pub = raw.subarray(1);
  const id = parseInt(hex, 16) >>> 0;
  if (keyId(name, pub) !== id) fail('bad verifier key: the key ID does not match the name and key');
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, pub]), format: 'der', type: 'spki' });
  return { name, id, pub, key };
}

// Splits a signed note; nothing verified.  -> {text: Buffer, sigs: [{name, id, sig}]}
export function parseNote(note) {
  const buf = toBuffer(note);
  const len = buf.length;
  if (len === 0 || len > MAX_NOTE || buf[len - 1] !== 0x0a || !validText(buf)) fail('malformed note');
  let blank = len - 1;
  for (; blank > 0; blank--) if (buf[blank] === 0x0a && buf[blank - 1] === 0x0a) break;
  if (blank === 0 || blank === len - 1) fail('malformed note: no signature block');
  const text = buf.subarray(0, blank);
  const sigs = [];
  for (let p = blank + 1; p < len;) {
    const nl = buf.indexOf(0x0a, p);
    const line = buf.subarray(p, nl);
    p = nl + 1;
    if (sigs.length === 100) fail('malformed note: too many signatures');
    if (line.length < 4 || !line.subarray(0, 4).equals(EM_DASH_SP)) fail('malformed signature line');
    const sp = line.indexOf(0x20, 4);
    if (sp < 0) fail('malformed signature line');
    const nameBuf = line.subarray(4, sp);
    const blob = b64decode(line.toString('latin1', sp + 1));
    if (!validName(nameBuf) || blob === null || blob.length < 5) fail('malformed signature line');
    sigs.push({ name: nameBuf.toString('utf8'), id: blob.readUInt32BE(0), sig: blob.subarray(4) });
  }
  return { text, sigs };
}

// The checkpoint body "origin\nsize\nbase64(root)\n" -> {origin, size: BigInt, root: Buffer}.
export function parseCheckpointBody(text) {
  const lines = [];
  let p = 0;
  while (p < text.length && lines.length < 4) {
    const nl = text.indexOf(0x0a, p);
    if (nl < 0) break;
    lines.push(text.subarray(p, nl));
    p = nl + 1;
  }
  if (lines.length !== 3 || p !== text.length) fail('malformed checkpoint: it must be exactly three lines');
  const [o, s, r] = lines;
  if (o.length > 255 || !validName(o)) fail('malformed checkpoint: bad origin');
  const sz = s.toString('latin1');
  if (!/^(0|[1-9][0-9]{0,19})$/.test(sz) || BigInt(sz) > MAX_U64) fail('malformed checkpoint: bad size');
  const root = b64decode(r.toString('latin1'));
  if (root === null || root.length !== 32) fail('malformed checkpoint: bad root hash');
  return { origin: o.toString('utf8'), size: BigInt(sz), root };
}

// Parse, verify against one key, parse the body.  Returns the checkpoint or null.
function openCheckpointWith(noteBytes, v) {
  try {
    const note = parseNote(noteBytes);
    let verified = false;
    for (const s of note.sigs) {
      if (s.id !== v.id || s.name !== v.name) continue; // another key: not ours to judge
      if (s.sig.length !== 64 || !cryptoVerify(null, note.text, v.key, s.sig)) return null;
      verified = true;
    }
    return verified ? parseCheckpointBody(note.text) : null;
  } catch (e) {
    if (e instanceof Fault) return null;
    throw e;
  }
}

export function openCheckpoint(noteBytes, verifiers) {
  for (const v of verifiers) {
    const cp = openCheckpointWith(toBuffer(noteBytes), v);
    if (cp) return cp;
  }
  return null;
}

// ---- Merkle frontier ---------------------------------------------------------------

class Frontier {
  constructor() { this.size = 0n; this.hash = []; } // hash[k]: subtree of 2^k leaves, when bit k of size is set

  // Adds the perfect subtree of 2^level leaves at the right edge (size must be a multiple of 2^level).
  append(level, h) {
    if ((this.size & ((1n << BigInt(level)) - 1n)) !== 0n) return false;
    let carry = h, k = level;
    while ((this.size >> BigInt(k)) & 1n) {
      carry = nodeHash(this.hash[k], carry);
      this.hash[k] = undefined;
      k++;
    }
    this.hash[k] = carry;
    this.size += 1n << BigInt(level);
    return true;
  }

  root() {
    let r = null;
    for (let k = 0; k < 64; k++) {
      if (((this.size >> BigInt(k)) & 1n) === 0n) continue;
      r = r === null ? this.hash[k] : nodeHash(this.hash[k], r);
    }
    return r ?? EMPTY_ROOT;
  }
}

// ---- the export ------------------------------------------------------------------------

function splitLines(buf) {
  const lines = [];
  for (let p = 0; p < buf.length;) {
    const nl = buf.indexOf(0x0a, p);
    lines.push(buf.subarray(p, nl));
    p = nl + 1;
  }
  return lines;
}

function verifyOrThrow(exportBytes, verifierKeys, oldCheckpoint) {
  const buf = toBuffer(exportBytes);
  const verifiers = (Array.isArray(verifierKeys) ? verifierKeys : [verifierKeys]).map(parseVerifierKey);
  if (buf.length === 0 || buf[buf.length - 1] !== 0x0a) fail('malformed export: it must end with a newline');
  const lines = splitLines(buf);
  const headerLine = lines.shift();
  if (lines.length === 0) fail('malformed export: no checkpoint line');
  const cpLine = lines.pop();
  const entries = lines;

  // 1. Header.
  let header;
  try { header = headerLine.length <= 65536 ? parseJson(headerLine) : null; } catch { header = null; }
  const hv = (k) => (header && header.t === 'obj' ? get(header, k) : undefined);
  const isInt = (x) => x?.t === 'int';
  if (!header || header.t !== 'obj' || hv('format')?.t !== 'str' || hv('format').s !== 'jitgate-audit-export' ||
      !isInt(hv('v')) || hv('v').v !== 1n) {
    fail('malformed export: the first line is not a jitgate-audit-export v1 header');
  }
  const jf = hv('from'), jt = hv('to'), js = hv('tree_size'), jo = hv('origin');
  if (!isInt(jf) || !isInt(jt) || !isInt(js) || jo?.t !== 'str' || jf.v < 0n || jt.v < jf.v || js.v <= jt.v) {
    fail('malformed export: header needs from <= to < tree_size and an origin');
  }
  const from = jf.v, to = jt.v, treeSize = js.v, origin = jo.s;

  // 2. The checkpoint: signed by a trusted key, for this origin and size.
  let cpdoc;
  try { cpdoc = parseJson(cpLine); } catch { cpdoc = null; }
  const noteVal = cpdoc?.t === 'obj' ? get(cpdoc, 'checkpoint') : undefined;
  if (noteVal?.t !== 'str') fail('malformed export: the last line is not a checkpoint line');
  const cp = openCheckpoint(Buffer.from(noteVal.s, 'utf8'), verifiers);
  if (!cp) fail('bad signature: the checkpoint is not validly signed by the given key (or its text was edited)');
  if (cp.origin !== origin || cp.size !== treeSize) {
    fail(`size mismatch: the signed checkpoint is for ${cp.origin} at size ${cp.size}, the export claims ${origin} at size ${treeSize}`);
  }

  // 3. An older checkpoint, if given: it must be one this export can check.
  let old = null;
  if (oldCheckpoint !== undefined && oldCheckpoint !== null) {
    old = openCheckpoint(toBuffer(oldCheckpoint), verifiers);
    if (!old) fail('the older checkpoint is not validly signed by the given key');
    if (old.origin !== cp.origin || old.size > treeSize) {
      fail(`not consistent with the older checkpoint: it is for ${old.origin} at size ${old.size}, this export for ${cp.origin} at size ${treeSize}`);
    }
    if (old.size < from || (old.size > to + 1n && old.size !== treeSize)) {
      fail(`cannot check consistency with the older checkpoint (size ${old.size}): export a range that contains that size`);
    }
  }

  // 4. Left: the perfect subtrees of [0, from), largest first.
  const tree = new Frontier();
  const left = hv('left');
  const nleft = popcount(from);
  if (left?.t !== 'arr' || left.items.length !== nleft || !left.items.every((x) => x.t === 'str' && HEX64.test(x.s))) {
    fail(`malformed export: 'left' must hold ${nleft} hashes for from=${from}`);
  }
  for (let k = 63, idx = 0; k >= 0; k--) {
    if ((from >> BigInt(k)) & 1n) tree.hash[k] = Buffer.from(left.items[idx++].s, 'hex');
  }
  tree.size = from;

  // 5. Entries: form, seq, prev link, leaf hash into the tree.
  let oldRoot = null;
  const noteOld = () => { if (old && oldRoot === null && tree.size === old.size) oldRoot = tree.root(); };
  let prev = Buffer.alloc(32);
  if (from > 0n && entries.length > 0) {
    try { prev = parseEntry(entries[0]).prev; } catch (e) { if (e instanceof Fault) fail(e.why, from); throw e; }
  }
  noteOld();
  let next = from;
  for (const bytes of entries) {
    let parsed;
    try { parsed = parseEntry(bytes); } catch (e) { if (e instanceof Fault) fail(e.why, next); throw e; }
    if (parsed.seq !== next) fail(`gap or reordering: expected seq ${next}, found seq ${parsed.seq}`, next);
    if (!parsed.prev.equals(prev)) {
      // Usually the entry before was altered: it is the one named.
      if (next === 0n) fail("bad hash link: the first entry's prev must be zeros", 0n);
      fail(`bad hash link: entry ${next - 1n} does not hash to the prev recorded by entry ${next} (one of them was altered)`, next - 1n);
    }
    const h = leafHash(bytes);
    tree.append(0, h);
    prev = h;
    next++;
    noteOld();
  }
  if (next !== to + 1n) {
    fail(`size mismatch: the header promises entries ${from}..${to}, the file ends after ${next ? next - 1n : 0n}`, next);
  }

  // 6. Right: the largest aligned perfect subtrees tiling [to + 1, tree_size), left to right.
  const right = hv('right');
  const rights = right?.t === 'arr' ? right.items : [];
  let used = 0;
  for (let pos = to + 1n; pos < treeSize;) {
    let level = 0n;
    while (level < 63n && (pos & ((2n << level) - 1n)) === 0n && pos + (2n << level) <= treeSize) level++;
    const jh = rights[used];
    const h = jh?.t === 'str' ? unhex32(jh.s) : null;
    if (!h || !tree.append(Number(level), h)) {
      fail(`malformed export: 'right' does not tile [${to + 1n}, ${treeSize})`);
    }
    used++;
    pos += 1n << level;
  }
  if (used !== rights.length) fail("malformed export: 'right' has extra hashes");

  // 7. The root must be the signed one.
  const root = tree.root();
  if (!root.equals(cp.root)) {
    fail(`root mismatch: the entries ${from}..${to} with the given proof hashes do not produce the signed root of size ${treeSize}`);
  }

  // 8. The older checkpoint's root must be the root of this tree's first old.size leaves.
  if (old) {
    if (old.size === treeSize) oldRoot = root;
    if (oldRoot === null || !oldRoot.equals(old.root)) {
      fail(`not consistent with the older checkpoint: the tree of size ${old.size} in this export has another root: the log was rewritten`);
    }
  }
  return {
    ok: true, origin, from: num(from), to: num(to), treeSize: num(treeSize), root: root.toString('hex'),
    entries: entries.length, ...(old ? { consistentWith: num(old.size) } : {}),
  };
}

export function verifyExport(exportBytes, verifierKeys, oldCheckpoint) {
  try {
    return verifyOrThrow(exportBytes, verifierKeys, oldCheckpoint);
  } catch (e) {
    if (!(e instanceof Fault)) throw e;
    return e.seq === undefined ? { ok: false, why: e.why } : { ok: false, seq: num(e.seq), why: e.why };
  }
}

// ---- proofs (RFC 9162) --------------------------------------------------------------------

const lsb = (x) => (x & 1n) === 1n;

// RFC 9162 2.1.3.2.  proof: array of 32-byte Buffers (or hex strings), nearest the leaf first.
export function verifyInclusion(leafIndex, treeSize, leaf, proof, root) {
  let fn = BigInt(leafIndex), sn = BigInt(treeSize) - 1n;
  if (fn > sn) return false;
  let r = toHash(leaf);
  for (const p of proof.map(toHash)) {
    if (sn === 0n) return false;
    if (lsb(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!lsb(fn) && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && r.equals(toHash(root));
}

// RFC 9162 2.1.4.2 for 0 < m < n; m == n and m == 0 need an empty proof (jitgate's convention).
export function verifyConsistency(m, n, rootM, rootN, proof) {
  m = BigInt(m); n = BigInt(n);
  const path = proof.map(toHash);
  rootM = toHash(rootM); rootN = toHash(rootN);
  if (m > n) return false;
  if (m === 0n) return path.length === 0 && rootM.equals(EMPTY_ROOT);
  if (m === n) return path.length === 0 && rootM.equals(rootN);
  if (path.length === 0) return false;
  if ((m & (m - 1n)) === 0n) path.unshift(rootM);
  let fn = m - 1n, sn = n - 1n;
  while (lsb(fn)) { fn >>= 1n; sn >>= 1n; }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if (lsb(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!lsb(fn) && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return fr.equals(rootM) && sr.equals(rootN) && sn === 0n;
}

function toHash(x) {
  if (Buffer.isBuffer(x) && x.length === 32) return x;
  const h = unhex32(x);
  if (!h) throw new TypeError('a hash must be 32 bytes or 64 lower-case hex digits');
  return h;
}
