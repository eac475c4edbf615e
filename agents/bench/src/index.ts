/**
 * What other packages (the test suite's ghz smoke and grpcurl reflection test) use of the bench:
 * finding or installing ghz and other Go tools. The bench itself runs from bin/ckc-bench.js
 * (lib/main.js).
 */
export { Ghz, GHZ_MODULE, GHZ_VERSION, type GhzReport, type GhzSummary } from './ghz';
export { freePort } from './free-port';
export { GO_TOOL_INSTALL_TIMEOUT_MS, ensureGoTool, type GoTool } from './go-tool';
