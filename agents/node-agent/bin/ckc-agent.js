#!/usr/bin/env node
'use strict';
// Every small write waits for fsyncs on libuv's thread pool (its data and sidecar together, then
// its group's directories). With its default of 4 threads, 32 concurrent writes queue behind 4
// fsyncs at a time; with more, the file system's journal commits concurrent fsyncs together. Measured a median of ~1.4x more 4 KiB writes
// per second (docs/benchmarks.md, issue 16). Set before anything uses the pool; an operator's own
// value wins.
process.env.UV_THREADPOOL_SIZE ??= '32';
require('../lib/main.js');
