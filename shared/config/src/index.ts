/**
 * Agent configuration: flags, environment and an optional YAML file into one frozen, validated
 * AgentConfig, from one declarative option schema (AGENT_OPTIONS).
 * Owns: every option's name, spelling, default and doc. The only code that reads the environment.
 * Never: I/O besides reading the YAML file.
 */
export { AGENT_OPTIONS, NODE_ID_PATTERN, MAX_NODE_ID_LENGTH, NODE_ID_DOC } from './agent-options';
export type { OptionSpec, OptionType } from './option-spec';
export { ConfigError, isConfigError } from './config-error';
export { formatHelp } from './format-help';
export {
  loadAgentConfig,
  helpRequested,
  EMBEDDED_REDIS_SOCKET,
  MAX_SOCKET_PATH_BYTES,
  type AgentConfig,
  type LoadAgentConfigInput,
} from './load-agent-config';
export { parseDuration, parseSize, tryParseDuration, formatDuration, formatSize } from './units';
