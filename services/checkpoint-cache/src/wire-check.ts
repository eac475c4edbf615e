/**
 * Checks a request's bytes as they arrived, before protobufjs turns them into an object that can
 * no longer tell what the caller sent:
 * - a `string` field must be valid UTF-8. protobufjs replaces invalid bytes with U+FFFD, so keys
 *   `inv/\xff\xfe` and `inv/\xfe\xff` would decode to the same string and name the same entry
 *   (a valid key may contain U+FFFD itself, as EF BF BD: only the bytes can tell them apart);
 * - a `uint64` field must be at most 2^53 - 1. The loader turns longs into JS numbers, which
 *   round above that, so the error could only show a value the caller never sent.
 * Bytes that are no protobuf at all get INVALID_ARGUMENT too: grpc-js would answer INTERNAL.
 * Owns: walking the protobuf wire format guided by the message descriptors. Never: decoding the
 * message (protobufjs does) or any rule about what the values mean.
 */
import { isUtf8 } from 'node:buffer';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { packageDefinition } from '@checkpoint-cache/proto';

type PackageDefinition = ReturnType<typeof packageDefinition>;

/** What the check found wrong with a request, in words for the caller; undefined when nothing. */
export type WireCheck = (bytes: Buffer) => string | undefined;

interface FieldDescriptor {
  name: string;
  number: number;
  type: string;
  typeName: string;
}

interface CheckedField {
  /** The field's name in the .proto (snake_case), as callers of every language know it. */
  name: string;
  kind: 'string' | 'uint64' | 'message';
  /** For 'message': the checks of the nested type. */
  nested?: Map<number, CheckedField>;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** The bytes end inside a field, or hold something protobuf does not. */
class NotProtobuf extends Error {}

/** Requests whose bytes failed a check, with what was wrong (see rejectMalformed). */
const malformed = new WeakMap<object, string>();

/**
 * `deserialize` with `check` run first. A deserializer that throws makes grpc-js answer INTERNAL,
 * so a request that fails is returned marked instead, and its handler rejects it with
 * INVALID_ARGUMENT (rejectMalformed).
 */
export function checkedDeserializer(
  typeName: string,
  check: WireCheck,
  deserialize: (bytes: Buffer) => unknown,
): (bytes: Buffer) => unknown {
  return (bytes) => {
    const problem = check(bytes);
    let message: unknown;
    try {
      message = deserialize(bytes);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      const marked = {};
      malformed.set(marked, `the request is not a valid ${typeName} message: ${detail}`);
      return marked;
    }
    if (problem !== undefined && typeof message === 'object' && message !== null) {
      malformed.set(message, problem);
    }
    return message;
  };
}

/** Throws CacheError(InvalidArgument) when `message` failed its wire check. */
export function rejectMalformed(message: unknown): void {
  if (typeof message !== 'object' || message === null) return;
  const problem = malformed.get(message);
  if (problem !== undefined) throw new CacheError(ErrorCode.InvalidArgument, problem);
}

/**
 * The check for messages of `typeName` (e.g. `checkpointcache.v1.WriteRequest`), built from the
 * descriptors the loader produced, so a string or uint64 field added to the .proto is covered.
 */
export function wireCheckFor(definition: PackageDefinition, typeName: string): WireCheck {
  const fields = checkedFields(definition, typeName, new Map());
  return (bytes) => {
    try {
      const problem = checkMessage(bytes, 0, bytes.length, fields);
      return problem && problem.say(problem.path.join('.'));
    } catch (err) {
      // protobufjs reads some of these without complaint (a string cut short decodes to less).
      if (err instanceof NotProtobuf)
        return `the request is not a valid ${typeName} message: ${err.message}`;
      throw err;
    }
  };
}

function descriptorFields(definition: PackageDefinition, typeName: string): FieldDescriptor[] {
  const entry = definition[typeName] as { type?: { field?: FieldDescriptor[] } } | undefined;
  if (!entry?.type?.field) throw new Error(`no message type ${typeName} in the package definition`);
  return entry.type.field;
}

/** Field number -> check, for the fields worth looking at (nested messages only if they hold some). */
function checkedFields(
  definition: PackageDefinition,
  typeName: string,
  seen: Map<string, Map<number, CheckedField>>,
): Map<number, CheckedField> {
  const known = seen.get(typeName);
  if (known) return known;
  const result = new Map<number, CheckedField>();
  seen.set(typeName, result);
  const pkg = typeName.slice(0, typeName.lastIndexOf('.'));
  for (const f of descriptorFields(definition, typeName)) {
    const name = f.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (f.type === 'TYPE_STRING') result.set(f.number, { name, kind: 'string' });
    else if (f.type === 'TYPE_UINT64') result.set(f.number, { name, kind: 'uint64' });
    else if (f.type === 'TYPE_MESSAGE') {
      const nestedName = f.typeName.startsWith('.') ? f.typeName.slice(1) : `${pkg}.${f.typeName}`;
      const nested = checkedFields(definition, nestedName, seen);
      if (nested.size > 0) result.set(f.number, { name, kind: 'message', nested });
    }
  }
  return result;
}

/**
 * A field that failed: `path` from the outermost message down (filled in as the problem returns
 * through the nested messages), `say` the sentence given its dotted name. Built only on failure:
 * a request that passes allocates nothing here but its varints' positions (issue 16).
 */
interface Problem {
  path: string[];
  say: (name: string) => string;
}

function checkMessage(
  buf: Buffer,
  start: number,
  end: number,
  fields: Map<number, CheckedField>,
): Problem | undefined {
  let pos = start;
  while (pos < end) {
    const tag = readVarint(buf, pos, end);
    pos = varintEnd;
    // A field number is at most 2^29 - 1: a tag past 2^32 is not protobuf.
    if (tag > 0xffffffff) throw new NotProtobuf('a field number is out of range');
    const wireType = tag % 8;
    const field = fields.get(Math.floor(tag / 8));
    if (wireType === WIRE_VARINT) {
      const at = pos;
      const v = readVarint(buf, pos, end);
      pos = varintEnd;
      if (field?.kind === 'uint64' && v > Number.MAX_SAFE_INTEGER) return tooLarge(field, buf, at);
    } else if (wireType === WIRE_LEN) {
      const len = readVarint(buf, pos, end);
      const from = varintEnd;
      if (len > end - from) throw new NotProtobuf('a field runs past its end');
      const to = from + len;
      pos = to;
      if (!field) continue;
      const problem =
        field.kind === 'string'
          ? isUtf8(buf.subarray(from, to))
            ? undefined
            : notUtf8(field, to - from)
          : field.kind === 'message' && field.nested
            ? checkMessage(buf, from, to, field.nested)
            : field.kind === 'uint64'
              ? checkPackedUint64(buf, from, to, field)
              : undefined;
      if (problem) {
        if (field.kind === 'message') problem.path.unshift(field.name);
        return problem;
      }
    } else if (wireType === WIRE_I64) {
      pos += 8;
    } else if (wireType === WIRE_I32) {
      pos += 4;
    } else {
      // Groups (3, 4) are proto2-only and unused here; anything else is not protobuf.
      throw new NotProtobuf(`wire type ${wireType} is not used by this API`);
    }
    if (pos > end) throw new NotProtobuf('a field runs past its end');
  }
  return undefined;
}

function checkPackedUint64(
  buf: Buffer,
  from: number,
  to: number,
  field: CheckedField,
): Problem | undefined {
  for (let pos = from; pos < to;) {
    const v = readVarint(buf, pos, to);
    if (v > Number.MAX_SAFE_INTEGER) return tooLarge(field, buf, pos);
    pos = varintEnd;
  }
  return undefined;
}

/** Where the last readVarint ended: a module variable rather than an object per number read. */
let varintEnd = 0;

/**
 * A base-128 varint as a number, exact up to 2^53 - 1; a larger one comes back as Infinity (what
 * it was exactly: readBigVarint). Sets varintEnd.
 */
function readVarint(buf: Buffer, pos: number, end: number): number {
  let value = 0;
  let scale = 1;
  // Seven bytes hold 49 bits, exact in a double; a longer varint takes the BigInt road.
  for (let i = 0; i < 7; i++) {
    if (pos >= end) throw new NotProtobuf('a number runs past its end');
    const byte = buf[pos++] as number;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      varintEnd = pos;
      return value;
    }
    scale *= 128;
  }
  const big = readBigVarint(buf, pos - 7, end);
  return big > MAX_SAFE ? Number.POSITIVE_INFINITY : Number(big);
}

/** A base-128 varint, exactly (a uint64 needs up to 10 bytes, more than a double holds). */
function readBigVarint(buf: Buffer, pos: number, end: number): bigint {
  let value = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    if (pos >= end) throw new NotProtobuf('a number runs past its end');
    const byte = buf[pos++] as number;
    value |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) {
      varintEnd = pos;
      return BigInt.asUintN(64, value);
    }
  }
  throw new NotProtobuf('a number is longer than 10 bytes');
}

function notUtf8(field: CheckedField, bytes: number): Problem {
  return problemOf(
    field,
    (name) =>
      `${name} is not valid UTF-8 (${bytes} bytes); string fields must be UTF-8 text, since keys ` +
      'that differ only in invalid bytes would otherwise name the same entry. Send the text ' +
      'UTF-8 encoded, or escape binary names (e.g. percent-encoding) before sending them',
  );
}

/** The uint64 at `at` is past 2^53 - 1; the message shows it exactly. */
function tooLarge(field: CheckedField, buf: Buffer, at: number): Problem {
  const value = readBigVarint(buf, at, buf.length);
  return problemOf(
    field,
    (name) => `${name} must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, got ${value}`,
  );
}

function problemOf(field: CheckedField, say: (name: string) => string): Problem {
  return { path: [field.name], say };
}
