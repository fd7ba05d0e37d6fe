import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '@opspawn/plugin-sdk';

/** Calls `onChange` once things go quiet for `debounceMs` after any change in the watched directories. */
export class DirectoryWatcher {
  private readonly watchers: FSWatcher[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly dirs: readonly string[],
    private readonly debounceMs: number,
    private readonly onChange: () => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    for (const dir of this.dirs) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.schedule());
        watcher.on('error', (error) => {
          this.logger.warn({ dir, err: error }, `stopped watching tool directory ${dir}: ${error.message}`);
          watcher.close();
        });
        this.watchers.push(watcher);
      } catch (error) {
        this.logger.warn(
          { dir },
          `cannot watch tool directory ${dir}: ${(error as Error).message}; changes need a restart`,
        );
      }
    }
  }

  close(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers.splice(0)) w.close();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onChange(), this.debounceMs);
    this.timer.unref();
  }
}
