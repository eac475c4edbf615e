#!/usr/bin/env node
// Regenerates proto/src/generated from the .proto files with the same loader options the runtime
// uses. With --check it generates into a temporary folder and fails if the committed types differ.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const check = process.argv.includes('--check');
const committed = path.join(root, 'src', 'generated');
const out = check ? fs.mkdtempSync(path.join(os.tmpdir(), 'ckc-proto-')) : committed;
const protos = ['checkpointcache/v1/checkpoint_cache.proto'];

// Mirrors src/loader-options.ts (the generator takes flags, not an object); --check catches drift
// between the two because the generated field types depend on these options.
const flags = [
  '--longs=Number',
  '--enums=String',
  '--defaults',
  '--oneofs',
  '--grpcLib=@grpc/grpc-js',
];

if (!check) fs.rmSync(committed, { recursive: true, force: true });
const gen = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
execFileSync(process.execPath, [gen, ...flags, '-I', root, '-O', out, ...protos], {
  stdio: 'inherit',
});

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
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((d) =>
      d.isDirectory()
        ? listFiles(path.join(dir, d.name), path.join(prefix, d.name))
        : [path.join(prefix, d.name)],
    );
}

relativizeComments(out);

if (check) {
  const a = listFiles(committed).sort();
  const b = listFiles(out).sort();
  const differing = [...new Set([...a, ...b])].filter((f) => {
    const x = path.join(committed, f);
    const y = path.join(out, f);
    return !fs.existsSync(x) || !fs.existsSync(y) || !fs.readFileSync(x).equals(fs.readFileSync(y));
  });
  fs.rmSync(out, { recursive: true, force: true });
  if (differing.length > 0) {
    console.error(`proto/src/generated is stale (${differing.join(', ')}); run: npm run proto:gen`);
    process.exit(1);
  }
  console.log('proto/src/generated matches the .proto files');
}
