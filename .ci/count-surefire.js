#!/usr/bin/env node
// Adds the Surefire XML reports under the given folders to the mocha summary JSON given first:
//   node .ci/count-surefire.js <summary.json> <reports dir>...
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const [summaryFile, ...dirs] = process.argv.slice(2);
let summary = { passed: 0, failed: 0, skipped: 0 };
try {
  summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'));
} catch {
  // mocha did not run; count the Java tests alone
}
for (const dir of dirs) {
  let files = [];
  try {
    files = fs.readdirSync(dir).filter((f) => /^TEST-.*\.xml$/.test(f));
  } catch {
    continue;
  }
  for (const f of files) {
    const xml = fs.readFileSync(path.join(dir, f), 'utf8');
    const suite = /<testsuite\b[^>]*>/.exec(xml);
    if (!suite) continue;
    const attr = (name) => Number((new RegExp(`\\b${name}="(\\d+)"`).exec(suite[0]) || [])[1] || 0);
    const tests = attr('tests');
    const bad = attr('failures') + attr('errors');
    const skipped = attr('skipped');
    summary.passed += tests - bad - skipped;
    summary.failed += bad;
    summary.skipped += skipped;
  }
}
fs.writeFileSync(summaryFile, JSON.stringify(summary));
