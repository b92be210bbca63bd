// Typed failures. The CLI maps each class to an exit code, so a caller (CI, a
// maintainer's script) can tell a broken patch from a broken machine from a
// crashed kernel without parsing text.

export const ExitCode = {
  ok: 0,
  testFailure: 1, // a guest test failed or a significant regression was found
  userOrInfra: 2, // bad input, missing tool, broken host: nothing about the kernel
  kernelFailure: 3, // the kernel panicked, oopsed, hung or lost SSH
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class UringletError extends Error {
  abstract readonly exitCode: ExitCodeValue;
  abstract readonly kind: string;
  /** Lines worth printing under the message (compiler error, console tail...). */
  readonly details: string[];
  /** Where the full log is, when there is one. */
  readonly logPath: string | undefined;
  constructor(message: string, opts: { details?: string[]; logPath?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.details = opts.details ?? [];
    this.logPath = opts.logPath;
  }
}

/** The user asked for something that cannot work: bad flag, patch that does not apply. */
export class UserError extends UringletError {
  readonly exitCode = ExitCode.userOrInfra;
  readonly kind = 'user-error';
}

/** The host failed us: a missing package, no disk, QEMU would not start. */
export class InfraError extends UringletError {
  readonly exitCode = ExitCode.userOrInfra;
  readonly kind = 'infrastructure-error';
}

export type KernelFailureType =
  | 'panic'
  | 'oops'
  | 'bug'
  | 'warning'
  | 'memory-leak'
  | 'kasan'
  | 'lockdep'
  | 'hung-task'
  | 'soft-lockup'
  | 'rcu-stall'
  | 'gpf'
  | 'boot-timeout'
  | 'ssh-lost'
  | 'command-timeout'
  | 'qemu-exit';

/**
 * A warning or a kmemleak leak is a kernel bug that leaves the kernel running
 * (and a boot's numbers whole); anything else ends what the boot was doing.
 */
export function kernelGoesOn(type: KernelFailureType): boolean {
  return type === 'warning' || type === 'memory-leak';
}

/** The kernel under test misbehaved. Carries the console excerpt around the event. */
export class KernelFailure extends UringletError {
  readonly exitCode = ExitCode.kernelFailure;
  readonly kind = 'kernel-failure';
  readonly type: KernelFailureType;
  readonly title: string;
  constructor(
    type: KernelFailureType,
    title: string,
    opts: { details?: string[]; logPath?: string; cause?: unknown } = {},
  ) {
    super(`${type}: ${title}`, opts);
    this.type = type;
    this.title = title;
  }
}

/** A test ran to completion and reported failure (the kernel stayed healthy). */
export class TestFailure extends UringletError {
  readonly exitCode = ExitCode.testFailure;
  readonly kind = 'test-failure';
}

export function isUringletError(e: unknown): e is UringletError {
  return e instanceof UringletError;
}
