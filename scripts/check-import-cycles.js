#!/usr/bin/env node
// Fails when the TypeScript sources import in a circle: between files of one package (relative
// imports) or between workspace packages (@checkpoint-cache/* imports). A cycle works only as long
// as nothing in it is read while a module is still loading, so `npm run lint` refuses every one.
// Type-only imports (`import type`, `export type`) count as well: they are cycles of meaning.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const root = path.resolve(__dirname, '..');
const workspaces = ['proto', 'shared', 'services', 'agents', 'test'];
const SCOPE = '@checkpoint-cache/';

/** Every package folder with a src/ and its package name. */
function packages() {
  const out = [];
  const visit = (dir) => {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && fs.existsSync(path.join(dir, 'src'))) {
      out.push({ dir, name: JSON.parse(fs.readFileSync(pkg, 'utf8')).name });
      return;
    }
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      if (d.isDirectory() && d.name !== 'node_modules') visit(path.join(dir, d.name));
    }
  };
  for (const w of workspaces) visit(path.join(root, w));
  return out;
}

function sourceFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return d.name === 'generated' ? [] : sourceFiles(p);
    return d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Module specifiers a file imports or re-exports. */
function importsOf(file) {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const specs = [];
  for (const s of source.statements) {
    if ((ts.isImportDeclaration(s) || ts.isExportDeclaration(s)) && s.moduleSpecifier) {
      specs.push(s.moduleSpecifier.text);
    }
  }
  return specs;
}

function resolveRelative(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Cycles of a graph (Map node -> Set of nodes), each as the list of its nodes (Tarjan's SCCs). */
function cycles(graph) {
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const strongConnect = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        strongConnect(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? new Set()).has(v)) found.push(component);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) strongConnect(v);
  return found;
}

const files = new Map();
const packageGraph = new Map();
for (const pkg of packages()) {
  const deps = new Set();
  packageGraph.set(pkg.name, deps);
  for (const file of sourceFiles(path.join(pkg.dir, 'src'))) {
    const edges = new Set();
    files.set(file, edges);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) {
        const target = resolveRelative(file, spec);
        if (target) edges.add(target);
      } else if (spec.startsWith(SCOPE)) {
        const name = spec.split('/').slice(0, 2).join('/');
        if (name !== pkg.name) deps.add(name);
      }
    }
  }
}

const found = [
  ...cycles(files).map((c) => c.map((f) => path.relative(root, f))),
  ...cycles(packageGraph),
];
if (found.length > 0) {
  for (const c of found) console.error(`import cycle: ${[...c.reverse(), c[0]].join(' -> ')}`);
  console.error(
    `${found.length} import cycle(s); break each (a types module, a callback, a new package)`,
  );
  process.exit(1);
}
console.log(`no import cycles in ${files.size} files of ${packageGraph.size} packages`);
