export interface Command {
  /** One line for `uringlet --help`. */
  summary: string;
  /** Receives argv after the command name; returns the exit code. Throws typed errors. */
  run(argv: string[]): Promise<number>;
}
