// Each run or series run is a job; a new one aborts the previous, and a job that is no longer
// the current one never writes, so two quick runs never both write.

export interface Job {
  readonly id: number;
  readonly signal: AbortSignal;
}

export class JobControl {
  private current: { id: number; controller: AbortController } | null = null;
  private counter = 0;

  /** Starts a job, aborting the one in flight. */
  start(): Job {
    this.current?.controller.abort();
    const controller = new AbortController();
    this.current = { id: ++this.counter, controller };
    return { id: this.current.id, signal: controller.signal };
  }

  /** Whether `job` is still the one that may write. */
  isCurrent(job: Job): boolean {
    return this.current?.id === job.id && !this.current.controller.signal.aborted;
  }

  end(job: Job): void {
    if (this.current?.id === job.id) this.current = null;
  }

  /** Aborts the job in flight; false when there was none. */
  abort(): boolean {
    if (!this.current) return false;
    this.current.controller.abort();
    this.current = null;
    return true;
  }
}
