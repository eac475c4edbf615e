/**
 * The sidecar file beside each entry's data: everything needed to verify the bytes and to rebuild
 * the node's index without Redis. Written once at publish and rewritten (atomically) when a new
 * checkpoint starts referencing the entry.
 */
import { crc32cCombine, formatCrc32c } from '@checkpoint-cache/checksum';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { entryIdOf } from './entry-key';

export const SIDECAR_VERSION = 1;

/**
 * Block checksums of entries live in shared slabs, not in an ArrayBuffer each: a buffer of its own
 * costs ~200 bytes of bookkeeping for the 4 bytes a small entry's one block needs (issue #16). A
 * slab is 1 KiB, so a long-lived entry keeps at most that much of a slab whose others are gone.
 */
const SLAB_CRCS = 256;
let slab = new Uint32Array(SLAB_CRCS);
let slabUsed = 0;

/** A zeroed array for `count` block checksums, a view into a shared slab when it is small. */
export function allocBlockCrcs(count: number): Uint32Array {
  if (count > SLAB_CRCS / 4) return new Uint32Array(count);
  if (slabUsed + count > SLAB_CRCS) {
    slab = new Uint32Array(SLAB_CRCS);
    slabUsed = 0;
  }
  const view = slab.subarray(slabUsed, slabUsed + count);
  slabUsed += count;
  return view;
}

/** `crcs` in an array from allocBlockCrcs. */
export function copyBlockCrcs(crcs: readonly number[]): Uint32Array {
  const out = allocBlockCrcs(crcs.length);
  out.set(crcs);
  return out;
}

export interface Sidecar {
  version: number;
  key: string;
  jobId: string;
  checkpointIds: number[];
  size: number;
  crc32c: number;
  createdAtMs: number;
  ttlMs: number;
  /** Bytes covered by each entry of blockCrcs (the last block may be shorter). */
  blockSize: number;
  /** CRC32C of each block, in order. */
  blockCrcs: Uint32Array;
}

export interface SidecarJson extends Omit<Sidecar, 'blockCrcs'> {
  /** Big-endian uint32 per block, base64. */
  blockCrcs: string;
}

export function encodeSidecar(sidecar: Sidecar): Buffer {
  return Buffer.from(JSON.stringify(sidecarJson(sidecar)));
}

/** The sidecar as the JSON object its file holds (a pack's header holds the same, pack-store.ts). */
export function sidecarJson(sidecar: Sidecar): SidecarJson {
  const crcs = Buffer.alloc(sidecar.blockCrcs.length * 4);
  sidecar.blockCrcs.forEach((crc, i) => crcs.writeUInt32BE(crc, i * 4));
  return { ...sidecar, blockCrcs: crcs.toString('base64') };
}

function isWholeNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses and checks a sidecar; anything inconsistent is DATA_LOSS (the entry is unusable). */
export function decodeSidecar(raw: Buffer, where: string): Sidecar {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (cause) {
    throw new CacheError(ErrorCode.DataLoss, `sidecar ${where} is not JSON`, { cause });
  }
  return sidecarFromJson(json, where);
}

/** A sidecar from its JSON object (as sidecarJson makes it), checked as decodeSidecar does. */
export function sidecarFromJson(parsed: unknown, where: string): Sidecar {
  const bad = (why: string): CacheError =>
    new CacheError(ErrorCode.DataLoss, `sidecar ${where} is unusable: ${why}`);
  if (typeof parsed !== 'object' || parsed === null) throw bad('not an object');
  const json = parsed as Partial<SidecarJson>;
  if (json.version !== SIDECAR_VERSION) throw bad(`unknown version ${String(json.version)}`);
  if (typeof json.key !== 'string' || typeof json.jobId !== 'string') throw bad('missing key');
  if (!isWholeNumber(json.size) || !isWholeNumber(json.crc32c) || !isWholeNumber(json.ttlMs)) {
    throw bad('bad size, crc32c or ttlMs');
  }
  if (!isWholeNumber(json.createdAtMs) || !isWholeNumber(json.blockSize) || json.blockSize === 0) {
    throw bad('bad createdAtMs or blockSize');
  }
  if (!Array.isArray(json.checkpointIds) || !json.checkpointIds.every(isWholeNumber)) {
    throw bad('bad checkpointIds');
  }
  const crcBytes = Buffer.from(typeof json.blockCrcs === 'string' ? json.blockCrcs : '', 'base64');
  const blocks = Math.ceil(json.size / json.blockSize);
  if (crcBytes.length !== blocks * 4) throw bad(`expected ${blocks} block checksums`);
  const blockCrcs = allocBlockCrcs(blocks);
  for (let i = 0; i < blocks; i++) blockCrcs[i] = crcBytes.readUInt32BE(i * 4);
  return {
    version: json.version,
    key: json.key,
    jobId: json.jobId,
    checkpointIds: json.checkpointIds,
    size: json.size,
    crc32c: json.crc32c,
    createdAtMs: json.createdAtMs,
    ttlMs: json.ttlMs,
    blockSize: json.blockSize,
    blockCrcs,
  };
}

/**
 * Why the sidecar cannot describe the entry file `id`, or undefined when it can: its key must hash
 * to the file's name, and its block checksums must combine to its whole-entry CRC32C (a whole CRC
 * that disagrees with blocks that all verify would make every read fail at its very end).
 */
export function sidecarProblem(id: string, sidecar: Sidecar): string | undefined {
  if (entryIdOf(sidecar.key) !== id) return 'its key does not hash to the file name';
  const { blockCrcs, blockSize, size } = sidecar;
  let whole = 0;
  for (let i = 0; i < blockCrcs.length; i++) {
    const length = Math.min(blockSize, size - i * blockSize);
    whole = i === 0 ? blockCrcs[0] : crc32cCombine(whole, blockCrcs[i], length);
  }
  if (whole >>> 0 !== sidecar.crc32c >>> 0) {
    return (
      `its block checksums combine to CRC32C ${formatCrc32c(whole)}, ` +
      `not the whole-entry ${formatCrc32c(sidecar.crc32c)}`
    );
  }
  return undefined;
}
