import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type BeeQueue from 'bee-queue';
import type { RedisClient } from 'redis';
import { ActiveJobWrites } from './active-job-writes.js';
import { isNoScriptError } from './bee-queue-workarounds.js';

/**
 * Moves up to ARGV[1] jobs from the levels' waiting lists to their active lists, highest level first, FIFO within
 * a level, after taking the job a wait returned (ARGV[4], ARGV[5]: its level index and id, or -1 and ''), and counts
 * each one's delivery: a second delivery of a job that never finished (its worker died, or its handler failed)
 * raises the task's stall count. Returns (level index, job id, job data, stalls) per job. KEYS: the deliveries hash,
 * then per level its waiting, active and jobs keys; ARGV[2], ARGV[3]: the stall count key's prefix (+ task id,
 * read from the job, so not among KEYS: bee-queue's scripts are not for Redis Cluster either) and lifetime;
 * ARGV[6...]: the level values, for the delivery key `<level>:<job id>` (`deliveryKey`). A job whose data is gone
 * (removed after it was queued) is taken off the active list and skipped, as bee-queue does.
 */
const FETCH = `
local out = {}
local function take(level, id)
  local active, jobs = KEYS[3 * level + 3], KEYS[3 * level + 4]
  local data = redis.call('hget', jobs, id)
  if not data then
    redis.call('lrem', active, 1, id)
    return
  end
  local stalls = 0
  if redis.call('hincrby', KEYS[1], ARGV[6 + level] .. ':' .. id, 1) > 1 then
    local ok, job = pcall(cjson.decode, data)
    if ok and type(job) == 'table' and type(job.data) == 'table' and job.data.t then
      local key = ARGV[2] .. job.data.t
      stalls = redis.call('incr', key)
      redis.call('pexpire', key, ARGV[3])
    end
  end
  out[#out + 1] = level
  out[#out + 1] = id
  out[#out + 1] = data
  out[#out + 1] = stalls
end
if tonumber(ARGV[4]) >= 0 then take(tonumber(ARGV[4]), ARGV[5]) end
local want = tonumber(ARGV[1])
for level = 0, (#KEYS - 1) / 3 - 1 do
  while #out / 4 < want do
    local id = redis.call('rpoplpush', KEYS[3 * level + 2], KEYS[3 * level + 3])
    if not id then break end
    take(level, id)
  end
end
return out`;
const FETCH_SHA = createHash('sha1').update(FETCH).digest('hex');

/**
 * Puts a job taken without a slot for it back at the head of its queue: next in line, as if never taken. KEYS: its
 * queue's active, waiting and jobs keys, the deliveries hash; ARGV: job id, its delivery key, the stall count key's
 * prefix, and 1 if FETCH counted this delivery: then the count (and the stall it may have added) is taken back, so
 * the next delivery counts as this one would have.
 */
const HAND_BACK = `
if redis.call('lrem', KEYS[1], 1, ARGV[1]) == 0 then return end
redis.call('rpush', KEYS[2], ARGV[1])
if ARGV[4] ~= '1' then return end
if redis.call('hincrby', KEYS[4], ARGV[2], -1) <= 0 then
  redis.call('hdel', KEYS[4], ARGV[2])
  return
end
local ok, job = pcall(cjson.decode, redis.call('hget', KEYS[3], ARGV[1]) or '')
if ok and type(job) == 'table' and type(job.data) == 'table' and job.data.t then
  local key = ARGV[3] .. job.data.t
  if tonumber(redis.call('get', key) or '0') > 0 then redis.call('decr', key) end
end`;

/** Most jobs one fetch takes: a few milliseconds of Redis's time at most, so other clients are not held up. */
const MAX_FETCH = 500;
/** Fetches one worker has in flight at once: jobs that finish while one is under way need not wait for it. */
const MAX_FETCHES_IN_FLIGHT = 4;
const FIRST_RETRY_DELAY_MS = 250;
const STALL_COUNT_TTL_MS = 7 * 24 * 3600 * 1000;

/** The field of the deliveries hash that counts a job's deliveries; the broker deletes it when a delivery finished. */
export function deliveryKey(level: number, jobId: string): string {
  return `${level}:${jobId}`;
}

/** Where the fetcher counts deliveries and stalls (see FETCH). */
export interface DeliveryCounts {
  /** Hash of delivery counts per `deliveryKey`. */
  deliveries: string;
  /** Prefix of a task's stall count key (+ task id). */
  stallsPrefix: string;
  /** The value of each level, by level index. */
  levels: number[];
}

export type JobHandler = (level: number, job: BeeQueue.Job<unknown>, stalls: number) => Promise<unknown>;

interface FetchedJob {
  level: number;
  id: string;
  data: string;
  stalls: number;
}

/** bee-queue's Job, for a job whose data the fetch read already (bee-queue/lib/job.js). */
const { fromData: jobFromData } = createRequire(import.meta.url)('bee-queue/lib/job.js') as {
  fromData(queue: BeeQueue, id: string, data: string): BeeQueue.Job<unknown>;
};

/** What of a worker queue (bee-queue 2.0.0, lib/queue.js) the fetcher drives instead of `Queue#process`. */
interface WorkerQueueInternals {
  /** The queue's blocking connection (a worker queue has one). */
  bclient: RedisClient;
  /** Called by `_runJob` with the job. */
  handler: (job: BeeQueue.Job<unknown>) => Promise<unknown>;
  /** Renews the job's lock while `handler` runs, then records the outcome (done, retry with backoff, failed). */
  _runJob(job: BeeQueue.Job<unknown>): Promise<unknown>;
  /** Raises due delayed jobs and schedules the next raise; `process` calls it once, then its timer does. */
  _activateDelayed(): void;
  /** Renews a running job's lock: `_runJob` calls it as the job starts, then every half stall interval. */
  _preventStall(jobId: string): Promise<unknown>;
  /** Records a job's outcome (`_runJob`, when its handler settled); throws once the queue is closed. */
  _finishJob(error: unknown, data: unknown, job: BeeQueue.Job<unknown>): Promise<[string, unknown]>;
  _isClosed: boolean;
  toKey(name: string): string;
}

interface Block {
  /** The blocking connection's CLIENT ID, once known: CLIENT UNBLOCK needs it. */
  clientId?: number;
  unblockWanted: boolean;
}

/**
 * Takes jobs from the priority levels' bee-queue queues only for free slots, highest level first, and runs each
 * through bee-queue (lock renewal, retries, outcome). A worker so holds at most `slots` jobs across all levels:
 * what it takes from Redis it starts at once.
 *
 * While jobs wait, one script call takes as many as there are free slots. When every level is empty, the fetcher
 * waits on each level with a blocking move (BRPOPLPUSH, as bee-queue does), each counted as a slot taken; as soon
 * as a job arrives (or the worker fills up) the other waits are released with CLIENT UNBLOCK. A wait that Redis
 * answered before its release, for a worker with no slot free, is handed back to the head of its queue.
 */
export class SlotFetcher {
  private held = 0;
  /** Fetches in flight, and the slots they asked for (taken until they answer). */
  private readonly fetches = new Set<Promise<void>>();
  private asked = 0;
  private pumpScheduled = false;
  private closed = false;
  private retryDelay = 0;
  private readonly blocks = new Map<number, Block>();
  private blocksSettled: Array<() => void> = [];
  /** Frees a running job's slot (once), by job: when its finish is queued, or when `_runJob` settled. */
  private readonly releases = new Map<BeeQueue.Job<unknown>, () => void>();
  /** Stall counts of the jobs taken and not yet handed to the handler, by job. */
  private readonly stalls = new WeakMap<BeeQueue.Job<unknown>, number>();
  /** The queues' internals the fetcher drives, by level index. */
  private readonly internals: WorkerQueueInternals[];
  /** FETCH's KEYS, the same for every fetch. */
  private readonly fetchKeys: string[];
  private readonly writes: ActiveJobWrites;

  constructor(
    private readonly queues: BeeQueue[],
    private readonly client: RedisClient,
    private readonly counts: DeliveryCounts,
    private readonly slots: number,
    /** Longest wait between attempts to fetch while Redis fails. */
    private readonly maxRetryDelayMs: number,
    private readonly onError: (error: unknown) => void,
  ) {
    this.internals = queues.map((queue) => queue as unknown as WorkerQueueInternals);
    this.writes = new ActiveJobWrites(client);
    this.fetchKeys = [
      counts.deliveries,
      ...this.internals.flatMap((queue) => [queue.toKey('waiting'), queue.toKey('active'), queue.toKey('jobs')]),
    ];
  }

  /**
   * Starts taking jobs; `handler(level, job)` runs each, its slot taken until the returned promise settles (a
   * rejection makes bee-queue retry the job with backoff).
   */
  start(handler: JobHandler): void {
    this.internals.forEach((queue, level) => {
      queue.handler = (job) => handler(level, job, this.stalls.get(job) ?? 0);
      this.writeTogether(queue, level);
      queue._activateDelayed();
    });
    this.pump();
  }

  /**
   * Takes no more jobs: releases the waits and hands back what they or a fetch in flight took; settles once Redis
   * has answered them.
   */
  async close(): Promise<void> {
    this.closed = true;
    const settled =
      this.blocks.size === 0 ? undefined : new Promise<void>((resolve) => this.blocksSettled.push(resolve));
    this.unblockAll();
    await Promise.all([settled, ...this.fetches]);
  }

  /**
   * Lock renewals and successful finishes of the queue's jobs go through `writes`: one MULTI per turn for every job
   * (the broker's queues remove a job that succeeded and publish no events, so that is all a finish writes). A job's
   * slot is free once its finish is queued there: `fetch` writes it before its own script, so the fetch that fills
   * the slot finds the finished job gone from its active list, and the refill does not wait for the finish's round
   * trip. A failed job (retried with backoff, or failed for good) takes bee-queue's own path and frees its slot
   * after it.
   */
  private writeTogether(queue: WorkerQueueInternals, level: number): void {
    const keys = {
      active: queue.toKey('active'),
      stalling: queue.toKey('stalling'),
      jobs: queue.toKey('jobs'),
      deliveries: this.counts.deliveries,
    };
    queue._preventStall = (jobId) => this.writes.renewLock(keys.stalling, jobId);
    const finishJob = queue._finishJob.bind(queue);
    queue._finishJob = async (error, data, job) => {
      // A handler that threw leaves its delivery counted, so the job's next delivery counts as a stall. Once the
      // queue is closed bee-queue's own refuses to write: the job stays active for the stall check.
      if (error || queue._isClosed) return finishJob(error, data, job);
      job.status = 'succeeded';
      const written = this.writes.finish(keys, job.id, deliveryKey(this.counts.levels[level]!, job.id));
      this.releases.get(job)?.();
      await written;
      return ['succeeded', data];
    };
  }

  /** Fetches for the slots freed in this turn of the event loop: jobs that finish together are refilled together. */
  private pump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.fetchForFreeSlots();
    });
  }

  private fetchForFreeSlots(): void {
    if (this.closed || this.fetches.size >= MAX_FETCHES_IN_FLIGHT) return;
    // A full worker waits for nothing: a job that reached a wait anyway would be handed back.
    if (this.held >= this.slots) {
      this.unblockAll();
      return;
    }
    // Every level was empty at the last look: the waits get the next job of any level.
    if (this.blocks.size === this.queues.length) return;
    // Some level may have jobs (one wait answered): the other waits give back the slots they hold for the fetch.
    if (this.held + this.blocks.size >= this.slots) {
      this.unblockAll();
      return;
    }
    const want = Math.min(this.slots - this.held - this.blocks.size - this.asked, MAX_FETCH);
    if (want <= 0) return;
    this.asked += want;
    const fetch = this.fetch(want)
      .then(
        (jobs) => {
          this.retryDelay = 0;
          if (this.closed) {
            // Last taken, first given back: the head of each queue is as it was.
            for (const { level, id } of jobs.reverse()) this.handBack(level, id, true);
            return;
          }
          for (const job of jobs) this.run(job);
          if (jobs.length < want) this.blockOnEveryLevel();
          else this.pump();
        },
        (error) => {
          this.onError(error);
          this.retryLater();
        },
      )
      .finally(() => {
        this.asked -= want;
        this.fetches.delete(fetch);
      });
    this.fetches.add(fetch);
  }

  private retryLater(): void {
    this.retryDelay = Math.min(this.retryDelay ? this.retryDelay * 2 : FIRST_RETRY_DELAY_MS, this.maxRetryDelayMs);
    setTimeout(() => this.pump(), this.retryDelay).unref();
  }

  private run({ level, id, data, stalls }: FetchedJob): void {
    const queue = this.queues[level]!;
    const job = jobFromData(queue, id, data);
    this.stalls.set(job, stalls);
    this.held++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.releases.delete(job);
      this.held--;
      this.pump();
    };
    this.releases.set(job, release);
    this.internals[level]!._runJob(job)
      // Rejects only when the outcome could not be recorded (Redis lost, or the queue closed): the job stays in the
      // active list and the stall check hands it back.
      .catch((error: unknown) => this.onError(error))
      .finally(release);
  }

  /** Every level was empty at the last fetch: wait on each for its next job, one blocking connection per level. */
  private blockOnEveryLevel(): void {
    this.internals.forEach((queue, level) => {
      if (this.blocks.has(level) || this.closed) return;
      const block: Block = { unblockWanted: false };
      this.blocks.set(level, block);
      const bclient = queue.bclient;
      // Sent on the same connection just before the wait, so the id arrives before any job does.
      bclient.send_command('client', ['id'], (error: Error | null, id: number) => {
        // Without it the wait cannot be released: it stays until a job comes, handed back if no slot is free.
        if (error) return this.onError(error);
        block.clientId = id;
        if (block.unblockWanted) this.unblock(block);
      });
      bclient.brpoplpush(queue.toKey('waiting'), queue.toKey('active'), 0, (error, id) => {
        this.blocks.delete(level);
        if (this.blocks.size === 0) for (const resolve of this.blocksSettled.splice(0)) resolve();
        if (error) {
          if (!this.closed) {
            this.onError(error);
            this.retryLater();
          }
          return;
        }
        if (id) this.claim(level, id);
        else this.pump();
      });
    });
  }

  /** A wait returned job `id` of `level`: start it if a slot is free, else hand it back. */
  private claim(level: number, id: string): void {
    if (this.closed || this.held >= this.slots) {
      this.handBack(level, id, false);
      this.pump();
      return;
    }
    this.held++;
    this.fetch(0, { level, id }).then(
      (jobs) => {
        this.held--;
        if (this.closed) this.handBack(level, id, jobs.length > 0);
        else for (const job of jobs) this.run(job);
        this.pump();
      },
      (error: unknown) => {
        // The job stays in the active list; the stall check hands it back.
        this.held--;
        this.onError(error);
        this.pump();
      },
    );
  }

  /** Hands job `id` of `level` back (HAND_BACK); `counted`: FETCH counted its delivery. */
  private handBack(level: number, id: string, counted: boolean): void {
    const queue = this.internals[level]!;
    const keys = [queue.toKey('active'), queue.toKey('waiting'), queue.toKey('jobs'), this.counts.deliveries];
    const args = [id, deliveryKey(this.counts.levels[level]!, id), this.counts.stallsPrefix, counted ? '1' : '0'];
    this.client.eval(HAND_BACK, keys.length, ...keys, ...args, (error: Error | null) => {
      if (error) this.onError(error);
    });
  }

  private unblockAll(): void {
    for (const block of this.blocks.values()) {
      if (block.unblockWanted) continue;
      block.unblockWanted = true;
      if (block.clientId !== undefined) this.unblock(block);
    }
  }

  private unblock(block: Block): void {
    this.client.send_command('client', ['unblock', String(block.clientId)], (error) => {
      if (error) this.onError(error);
    });
  }

  /** Runs FETCH: takes the job a wait returned, if any, then up to `want` more. */
  private fetch(want: number, claimed?: { level: number; id: string }): Promise<FetchedJob[]> {
    // The finishes whose slots this fetch fills leave first, on the same connection.
    this.writes.flush();
    const keys = this.fetchKeys;
    const args = [
      want,
      this.counts.stallsPrefix,
      STALL_COUNT_TTL_MS,
      claimed?.level ?? -1,
      claimed?.id ?? '',
      ...this.counts.levels,
    ];
    const call = (command: 'evalsha' | 'eval', script: string) =>
      new Promise<Array<number | string>>((resolve, reject) =>
        this.client.send_command(command, [script, keys.length, ...keys, ...args], (error, reply) =>
          error ? reject(error) : resolve(reply as Array<number | string>),
        ),
      );
    return call('evalsha', FETCH_SHA)
      .catch((error: unknown) => {
        if (isNoScriptError(error)) return call('eval', FETCH);
        throw error;
      })
      .then((reply) => {
        const jobs: FetchedJob[] = [];
        for (let i = 0; i < reply.length; i += 4)
          jobs.push({
            level: Number(reply[i]),
            id: String(reply[i + 1]),
            data: String(reply[i + 2]),
            stalls: Number(reply[i + 3]),
          });
        return jobs;
      });
  }
}
