#!/usr/bin/env node
// Regenerates what is derived from the .proto files and committed:
// - proto/src/generated: TypeScript types, with the same loader options the runtime uses;
// - proto/descriptors/agent.protoset: the FileDescriptorSet (imports and comments included) of
//   every service the agent serves, compiled by protoc; the agent answers reflection from it.
// With --check it generates into a temporary folder and fails if the committed files differ.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const check = process.argv.includes('--check');
const committedTypes = path.join(root, 'src', 'generated');
const committedDescriptors = path.join(root, 'descriptors');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ckc-proto-'));
const outTypes = check ? path.join(scratch, 'generated') : committedTypes;
const outDescriptors = check ? path.join(scratch, 'descriptors') : committedDescriptors;
const protos = ['checkpointcache/v1/checkpoint_cache.proto'];

// The generator takes flags, not an object: they are built from the one options object the runtime
// loads with (src/loader-options.ts, compiled), so the generated types describe what it produces.
function generatorFlags() {
  let options;
  try {
    ({ PROTO_LOADER_OPTIONS: options } = require('../lib/loader-options.js'));
  } catch (err) {
    throw new Error(
      `proto/lib/loader-options.js is missing (${err.message}): run npm run build first`,
    );
  }
  const out = [];
  for (const [name, value] of Object.entries(options)) {
    if (value === true) out.push(`--${name}`);
    else if (value === false) continue;
    // longs: Number, enums: String: the generator spells the constructors by name.
    else if (typeof value === 'function') out.push(`--${name}=${value.name}`);
    else throw new Error(`loader option ${name}=${String(value)} has no generator flag here`);
  }
  return [...out, '--grpcLib=@grpc/grpc-js'];
}
const flags = generatorFlags();

try {
  if (!check) fs.rmSync(committedTypes, { recursive: true, force: true });
  const gen = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
  execFileSync(process.execPath, [gen, ...flags, '-I', root, '-O', outTypes, ...protos], {
    stdio: 'inherit',
  });
  relativizeComments(outTypes);
  compileDescriptorSet(path.join(outDescriptors, 'agent.protoset'));
  if (check) {
    const stale = [
      ...differing(committedTypes, outTypes, 'proto/src/generated'),
      ...differing(committedDescriptors, outDescriptors, 'proto/descriptors'),
    ];
    if (stale.length > 0) {
      console.error(`stale generated files (${stale.join(', ')}); run: npm run proto:gen`);
      process.exitCode = 1;
    } else {
      console.log('proto/src/generated and proto/descriptors match the .proto files');
    }
  }
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}

/**
 * protoc (the npm package ships the official binaries, so no download and no Maven) names each
 * file by its path under an include root, which is the name reflection clients see. The health
 * service is grpc-health-check's, so its .proto is compiled from that package's own copy — the file
 * its service definition is loaded from — placed under the canonical grpc/health/v1/health.proto
 * that grpc-go and grpc-java register; a new grpc-health-check with a changed file fails --check.
 */
function compileDescriptorSet(out) {
  const includeHealth = path.join(scratch, 'health-include');
  const health = 'grpc/health/v1/health.proto';
  const healthPackage = path.dirname(require.resolve('grpc-health-check/package.json'));
  fs.mkdirSync(path.join(includeHealth, path.dirname(health)), { recursive: true });
  fs.copyFileSync(
    path.join(healthPackage, 'proto', 'health', 'v1', 'health.proto'),
    path.join(includeHealth, health),
  );
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const protoc = require.resolve('protoc/protoc.cjs');
  execFileSync(
    process.execPath,
    [
      protoc,
      '-I', root,
      '-I', includeHealth,
      '--include_imports',
      '--include_source_info',
      `--descriptor_set_out=${out}`,
      ...protos,
      health,
    ], // prettier-ignore
    { stdio: 'inherit' },
  );
}

// The generator writes each file's absolute source path into a comment; keep it relative so the
// output does not depend on where the repository is checked out.
function relativizeComments(dir) {
  for (const f of listFiles(dir)) {
    const file = path.join(dir, f);
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.split(root + path.sep).join(''));
  }
}

function listFiles(dir, prefix = '') {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((d) =>
      d.isDirectory()
        ? listFiles(path.join(dir, d.name), path.join(prefix, d.name))
        : [path.join(prefix, d.name)],
    );
}

/** Files that are missing on either side or differ in a byte, named under `label`. */
function differing(committed, generated, label) {
  const a = listFiles(committed);
  const b = listFiles(generated);
  return [...new Set([...a, ...b])]
    .filter((f) => {
      const x = path.join(committed, f);
      const y = path.join(generated, f);
      return (
        !fs.existsSync(x) || !fs.existsSync(y) || !fs.readFileSync(x).equals(fs.readFileSync(y))
      );
    })
    .map((f) => path.join(label, f));
}
