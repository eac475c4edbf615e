/**
 * What other packages (the test suite's ghz smoke) use of the bench: finding or installing ghz.
 * The bench itself runs from bin/ckc-bench.js (lib/main.js).
 */
export { Ghz, GHZ_MODULE, GHZ_VERSION, type GhzReport, type GhzSummary } from './ghz';
export { freePort } from './free-port';
