/**
 * The shape of one agent option: what the schema in agent-options.ts says about each option and
 * what the loader and `--help` read from it.
 * Owns: the option types and fields. Never: any option itself (agent-options.ts), parsing or I/O.
 */

export type OptionType =
  | 'string'
  | 'duration'
  | 'size'
  | 'int'
  | 'enum'
  | 'bool'
  | 'hostport'
  | 'path'
  | 'url'
  /** A file mode in octal, such as 0660. */
  | 'mode';

export interface OptionSpec {
  /** camelCase: the YAML key and the AgentConfig field. */
  readonly name: string;
  /** kebab-case, without the leading `--`. */
  readonly flag: string;
  readonly env: string;
  readonly type: OptionType;
  /**
   * The default, written as a user would write it and parsed like user input. `<cacheDir>` at
   * the start stands for the resolved cache directory. Absent: no default (the value is unset).
   */
  readonly default?: string;
  /** How `--help` describes the behaviour when the option is unset and has no default. */
  readonly unsetDoc?: string;
  /** Placeholder for the value in `--help`. */
  readonly metavar: string;
  readonly doc: string;
  /** `off` (or an empty string) turns the feature off: the value becomes unset. */
  readonly canDisable?: boolean;
  /** Inclusive bounds: milliseconds for durations, bytes for sizes. */
  readonly min?: number;
  readonly max?: number;
  /** For enums: the accepted values (matched case-insensitively). */
  readonly values?: readonly string[];
  /** For strings: the accepted shape and how messages describe it. */
  readonly pattern?: RegExp;
  readonly patternDoc?: string;
  /** For URLs: accepted schemes, with their colon. */
  readonly protocols?: readonly string[];
  /** False for options that cannot be set from the config file (the file's own path). */
  readonly inFile?: boolean;
}
