import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // Crockford base 32

let lastTime = -1;
let lastRandom: number[] = [];
/** The id's time part for `lastTime`, made once per millisecond. */
let timePart = '';
/** Random bytes drawn 4 KiB at a time: one call into the system's generator per 256 milliseconds that make ids. */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/**
 * A new task id: `task_` + a ULID (48-bit millisecond time, 80 random bits). Ids made later in a process sort
 * after earlier ones, even within one millisecond (the random part is incremented), so stores can page by id.
 */
export function newTaskId(now: number = Date.now()): string {
  if (now <= lastTime) {
    incrementRandom();
  } else {
    lastTime = now;
    if (poolOffset + 16 > pool.length) {
      randomFillSync(pool);
      poolOffset = 0;
    }
    lastRandom = Array.from(pool.subarray(poolOffset, poolOffset + 16), (b) => b % 32);
    poolOffset += 16;
    timePart = '';
    for (let i = 0, t = now; i < 10; i++, t = Math.floor(t / 32)) timePart = ALPHABET[t % 32] + timePart;
  }
  let random = '';
  for (const d of lastRandom) random += ALPHABET[d];
  return `task_${timePart}${random}`;
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
