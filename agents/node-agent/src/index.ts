/**
 * The checkpoint-cache node agent as a library: start one in-process (tests, embedding) with the
 * same wiring as the `ckc-agent` executable.
 */
export {
  startNodeAgent,
  GRPC_SERVER_OPTIONS,
  type RunningAgent,
  type StartNodeAgentOptions,
} from './node-agent';
export {
  startEmbeddedRedis,
  INSTALL_HINT,
  type EmbeddedRedis,
  type EmbeddedRedisOptions,
} from './embedded-redis';
export {
  resolveNodeId,
  nodeIdFromHostname,
  NODE_ID_FILE,
  type ResolvedNodeId,
} from './node-identity';
export { NodeClaim, agentToken, AGENT_TOKEN_FILE, HOLD_MS } from './node-claim';
export { RECEIVE_WINDOW_BYTES } from './receive-window';
