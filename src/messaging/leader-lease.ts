/**
 * One holder at a time among the copies of a role (the operations role's evaluator): the copy that
 * holds the lease acts, the others stand by and take over when the holder dies. Adapters: a
 * PostgreSQL session advisory lock (released by the server when the holder's connection drops, so a
 * SIGKILLed holder frees it at once) and, in embedded mode, the one process itself.
 */
export interface LeaderLease {
  /**
   * Takes the lease if it is free, or checks that it is still held. Answers whether this copy holds
   * it now; never throws (a lost connection is "not held").
   */
  hold(): Promise<boolean>;
  /** Lets the lease go (stop): another copy may take it at once. */
  release(): Promise<void>;
}

/** The lease of a process that is the only copy (embedded mode): always held. */
export function soleHolderLease(): LeaderLease {
  return { hold: () => Promise.resolve(true), release: () => Promise.resolve() };
}
