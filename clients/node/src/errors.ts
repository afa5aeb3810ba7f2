/** The module refused the command; the message is the module's own (without `ERR `). */
export class HanoiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HanoiError";
  }
}

/** A write (or a read that needs the flag) named a flag that does not exist. */
export class FlagNotFound extends HanoiError {
  /** The flag's name, as the caller gave it (without the prefix). */
  readonly flag: string;
  constructor(flag: string) {
    super(`no such flag: ${flag}`);
    this.name = "FlagNotFound";
    this.flag = flag;
  }
}

/** The classes Redis clients use for an error reply (ioredis: `ReplyError`;
 * node-redis: `ErrorReply`, `SimpleError`, `BlobError`). */
const REPLY_ERRORS = new Set(["ReplyError", "ErrorReply", "SimpleError", "BlobError"]);

/** Is `e` Redis's answer (an error reply), not a connection failure? */
export function isReplyError(e: unknown): e is Error {
  if (!(e instanceof Error)) return false;
  for (let c: any = e.constructor; c && c !== Error; c = Object.getPrototypeOf(c)) {
    if (REPLY_ERRORS.has(c.name)) return true;
  }
  return false;
}

/** An error reply as hanoi's error; anything else (a connection error) unchanged. */
export function refusal(e: unknown, flag: string | undefined): unknown {
  if (!isReplyError(e)) return e;
  const text = e.message.startsWith("ERR ") ? e.message.slice(4) : e.message;
  if (text.startsWith("no such flag") && flag !== undefined) return new FlagNotFound(flag);
  const err = new HanoiError(text);
  (err as { cause?: unknown }).cause = e;
  return err;
}
