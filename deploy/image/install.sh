#!/bin/sh
# Production-only install of ckc-agent from a built checkout into an empty folder: what the
# image runs (deploy/Dockerfile) and what test/src/integration/image-start.test.ts runs outside a
# container, so the test proves the image's own commands.
#
#   deploy/image/install.sh <built checkout> <empty destination>
#
# <built checkout> has had `npm ci && npm run build`. The destination receives the root
# package.json and package-lock.json, each workspace the agent needs (found from the lockfile,
# not a list kept here) with only its package.json and the files it publishes ("files"), the
# production dependencies from the lockfile (`npm ci --omit=dev`), and entrypoint.sh.
# npm settings come from the environment as usual (npm_config_prefer_offline=true, ...).
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 <built checkout> <empty destination>" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
dest=$2
here=$(cd "$(dirname "$0")" && pwd)
agent=@checkpoint-cache/node-agent
# The ckc CLI ships too, so operators can `kubectl exec` it against the agent's socket.
cli=@checkpoint-cache/cli

mkdir -p "$dest"
if [ -n "$(ls -A "$dest")" ]; then
  echo "$0: $dest is not empty" >&2
  exit 2
fi
dest=$(cd "$dest" && pwd)

# The workspace folders the agent needs, itself included: its dependencies that the lockfile
# links to a workspace, and theirs.
workspaces=$(node - "$src" "$agent" "$cli" <<'JS'
const fs = require('node:fs');
const path = require('node:path');
const [src, agent, ...extra] = process.argv.slice(2);
const lock = JSON.parse(fs.readFileSync(path.join(src, 'package-lock.json'), 'utf8'));
const folderOf = (name) => {
  const entry = lock.packages[`node_modules/${name}`];
  return entry && entry.link ? entry.resolved : undefined;
};
const seen = new Set();
const visit = (name) => {
  const folder = folderOf(name);
  if (!folder || seen.has(folder)) return;
  seen.add(folder);
  const manifest = JSON.parse(fs.readFileSync(path.join(src, folder, 'package.json'), 'utf8'));
  for (const dep of Object.keys(manifest.dependencies || {})) visit(dep);
};
visit(agent);
if (seen.size === 0) throw new Error(`${agent} is not a workspace in package-lock.json`);
for (const name of extra) visit(name);
process.stdout.write([...seen].sort().join('\n') + '\n');
JS
)

cp "$src/package.json" "$src/package-lock.json" "$dest/"
for ws in $workspaces; do
  mkdir -p "$dest/$ws"
  cp "$src/$ws/package.json" "$dest/$ws/"
  # What `npm pack` would publish: the "files" entries (lib/, bin/, lua/, .proto files).
  files=$(node -e 'console.log((require(process.argv[1]).files || []).join("\n"))' "$src/$ws/package.json")
  for f in $files; do
    if [ ! -e "$src/$ws/$f" ]; then
      echo "$0: $ws/$f is missing: build the checkout first (npm ci && npm run build)" >&2
      exit 1
    fi
    cp -R "$src/$ws/$f" "$dest/$ws/"
  done
done

# --ignore-scripts: the root's "prepare" builds with tsc, a dev dependency; no production
# dependency needs its install script (protobufjs's only prints a hint).
(cd "$dest" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace="$agent" --workspace="$cli")

cp "$here/entrypoint.sh" "$dest/entrypoint.sh"
chmod 0755 "$dest/entrypoint.sh"
# Fails the build now rather than the pod later if a module is missing.
"$dest/entrypoint.sh" --help >/dev/null
node "$dest/shared/cli/bin/ckc.js" --help >/dev/null
echo "installed ckc-agent in $dest (workspaces: $(echo $workspaces))"
