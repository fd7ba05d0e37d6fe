import type { Readable } from 'node:stream';
import type { Logger } from '@opspawn/plugin-sdk';

/** How much of a server's stderr reaches the host's log: a chatty or looping server must not flood it. */
export const stderrLimits = {
  /** Lines logged per server per window; the rest are counted and summed up in one line. */
  linesPerWindow: 50,
  windowMs: 10_000,
  /** Longer lines (or output without newlines) are cut at this length. */
  maxLineChars: 1000,
  /** Lines kept for the error message of a server that exits or fails to start. */
  keptLines: 10,
};

/**
 * Reads a stdio server's stderr as it comes (a pipe nobody reads blocks the server once it is full) and logs it line
 * by line, tagged with the server, at most `linesPerWindow` lines per window. Keeps the last lines so a crash or a
 * failed start can say why.
 */
export class ServerStderrLog {
  private partial = '';
  private readonly kept: string[] = [];
  private windowStartedAt = 0;
  private loggedInWindow = 0;
  private dropped = 0;
  private summaryTimer?: NodeJS.Timeout;

  constructor(
    private readonly server: string,
    private readonly logger: Logger,
  ) {}

  /** Reads `stream` to its end; the line it ends without a newline is logged too. */
  drain(stream: Readable): void {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => this.write(chunk));
    stream.on('end', () => this.endLine());
    stream.on('error', () => this.endLine());
  }

  /** The last lines the server wrote, oldest first. */
  lastLines(): string[] {
    return [...this.kept];
  }

  /** Called when a new process starts: its errors should quote its own lines, not its predecessor's. */
  forgetLastLines(): void {
    this.kept.length = 0;
  }

  /** `; its last stderr lines: a | b` for an error message, or nothing when it wrote none. */
  describeLastLines(): string {
    return this.kept.length > 0 ? `; its last stderr lines: ${this.kept.join(' | ')}` : '';
  }

  /** Logs the unfinished line and the count of lines not logged, when the process is gone. */
  flush(): void {
    this.endLine();
    clearTimeout(this.summaryTimer);
    this.logDropped();
  }

  private write(chunk: string): void {
    const text = this.partial + chunk;
    let start = 0;
    for (let newline = text.indexOf('\n'); newline >= 0; newline = text.indexOf('\n', start)) {
      this.line(text.slice(start, newline));
      start = newline + 1;
    }
    this.partial = text.slice(start);
    if (this.partial.length > stderrLimits.maxLineChars) this.endLine();
  }

  private endLine(): void {
    if (this.partial.length > 0) this.line(this.partial);
    this.partial = '';
  }

  private line(raw: string): void {
    const trimmed = raw.replace(/\r$/, '');
    if (trimmed.trim() === '') return;
    const line =
      trimmed.length > stderrLimits.maxLineChars ? `${trimmed.slice(0, stderrLimits.maxLineChars)}…` : trimmed;
    this.kept.push(line);
    if (this.kept.length > stderrLimits.keptLines) this.kept.shift();
    const now = Date.now();
    if (now - this.windowStartedAt >= stderrLimits.windowMs) {
      this.logDropped();
      this.windowStartedAt = now;
      this.loggedInWindow = 0;
    }
    if (this.loggedInWindow < stderrLimits.linesPerWindow) {
      this.loggedInWindow++;
      this.logger.info({ server: this.server, stream: 'stderr' }, line);
      return;
    }
    this.dropped++;
    if (!this.summaryTimer) {
      this.summaryTimer = setTimeout(() => this.logDropped(), this.windowStartedAt + stderrLimits.windowMs - now);
      this.summaryTimer.unref();
    }
  }

  private logDropped(): void {
    clearTimeout(this.summaryTimer);
    this.summaryTimer = undefined;
    if (this.dropped === 0) return;
    this.logger.info(
      { server: this.server, stream: 'stderr', dropped: this.dropped },
      `MCP server '${this.server}' wrote ${this.dropped} more stderr lines within ${stderrLimits.windowMs / 1000} s; they were not logged`,
    );
    this.dropped = 0;
  }
}
