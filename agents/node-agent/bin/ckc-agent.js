#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=20
'use strict';
// V8 flags for the agent's memory (issue 16), measured in docs/benchmarks.md, "Agent memory per
// entry and the full pass": the young generation (semi-spaces of 16 MiB by default here) grows to
// its largest during the index load and a full reconcile pass, and the old generation may grow
// to a multiple of what survived its last full collection before the next one, a multiple of a
// larger index the more entries a node holds. With both flags a full pass at 100,000 entries
// peaked at 1.24 x steady RSS instead of 2.01 x (1.74 x with the semi-space alone), steady RSS
// unchanged; --max-semi-space-size=2 raised the steady RSS itself, --semi-space-growth-factor=1
// changed nothing. On node's command line because a V8 flag set after start applies
// unpredictably. Other values: start node yourself (`node --max-semi-space-size=16
// bin/ckc-agent.js`); NODE_OPTIONS cannot override these, node reads its own command line last.
// Every small write waits for fsyncs on libuv's thread pool (its data and sidecar together, then
// its group's directories). With its default of 4 threads, 32 concurrent writes queue behind 4
// fsyncs at a time; with more, the file system's journal commits concurrent fsyncs together. Measured a median of ~1.4x more 4 KiB writes
// per second (docs/benchmarks.md, issue 16). Set before anything uses the pool; an operator's own
// value wins.
process.env.UV_THREADPOOL_SIZE ??= '32';
require('../lib/main.js');
