import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // Crockford base 32

let lastTime = -1;
let lastRandom: number[] = [];

/**
 * A new task id: `task_` + a ULID (48-bit millisecond time, 80 random bits). Ids made later in a process sort
 * after earlier ones, even within one millisecond (the random part is incremented), so stores can page by id.
 */
export function newTaskId(now: number = Date.now()): string {
  if (now <= lastTime) {
    incrementRandom();
  } else {
    lastTime = now;
    lastRandom = Array.from(randomBytes(16), (b) => b % 32);
  }
  let time = '';
  let t = lastTime;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return `task_${time}${lastRandom.map((d) => ALPHABET[d]).join('')}`;
}

function incrementRandom(): void {
  for (let i = lastRandom.length - 1; i >= 0; i--) {
    if (lastRandom[i]! < 31) {
      lastRandom[i]!++;
      return;
    }
    lastRandom[i] = 0;
  }
}

/** The one task-id pattern: REST path checks, the OpenAPI document and gRPC requests all use it. */
export const TASK_ID_PATTERN = /^task_[0-9A-HJKMNP-TV-Z]{26}$/;

export function isTaskId(value: string): boolean {
  return TASK_ID_PATTERN.test(value);
}
