import { expect } from 'chai';
import type { ScheduleStore } from '../extension-points/schedule-store.js';
import type { Schedule } from '../schedule.js';

export interface ScheduleStoreUnderTest {
  schedules: ScheduleStore;
  /** Runs after each test: close connections, drop what the test wrote. */
  cleanup?: () => Promise<void>;
}

let counter = 0;

/** A new schedule as the kernel would create it; its id is run-unique so shared databases work. */
export function sampleSchedule(overrides: Partial<Schedule> = {}): Schedule {
  const now = new Date();
  return {
    id: `contract-${process.pid}-${Date.now().toString(36)}-${counter++}`,
    source: 'api',
    everyMs: 60_000,
    task: { goal: 'scheduled', input: { nested: [1, 'two', null] }, labels: { team: 'ops' } },
    missed: 'skip',
    overlap: 'skip',
    paused: false,
    nextDueAt: new Date(now.getTime() + 60_000).toISOString(),
    fires: 0,
    skips: 0,
    revision: 0,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    ...overrides,
  };
}

/**
 * What every schedule store promises (see `ScheduleStore`): ids are unique, JSON round-trips, `replace` is a
 * compare-and-set on the revision with exactly one winner among concurrent writers, `due` and `nextDueAt` see only
 * unpaused schedules, earliest first.
 *
 *     scheduleStoreContract('store-sqlite', async () => ({ schedules: SqliteTaskStore.open(...).schedules! }));
 */
export function scheduleStoreContract(name: string, make: () => Promise<ScheduleStoreUnderTest>): void {
  describe(`${name} keeps the schedule store contract`, () => {
    let subject: ScheduleStoreUnderTest | undefined;
    let store: ScheduleStore;

    beforeEach(async () => {
      subject = undefined;
      subject = await make();
      store = subject.schedules;
    });
    afterEach(async () => {
      await subject?.cleanup?.();
    });

    it('creates a schedule once per id and returns it as it was written', async () => {
      const schedule = sampleSchedule({
        agent: 'reporter',
        lastSkip: { dueAt: new Date(0).toISOString(), reason: 'overlap' },
      });
      expect(await store.create(schedule)).to.equal(true);
      expect(await store.create({ ...schedule, everyMs: 1000 })).to.equal(false);
      expect(await store.get(schedule.id)).to.deep.equal(schedule);
      expect(await store.get('contract-nobody')).to.equal(undefined);
      expect((await store.list()).map((s) => s.id)).to.include(schedule.id);
    });

    it('replaces only at the expected revision, bumping it, with exactly one winner among concurrent writers', async () => {
      const schedule = sampleSchedule();
      await store.create(schedule);
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.replace({ ...schedule, fires: i + 1 }, 0)),
      );
      const winners = results.filter((r) => r !== undefined);
      expect(winners).to.have.length(1);
      expect(winners[0]!.revision).to.equal(1);
      const stored = await store.get(schedule.id);
      expect(stored).to.deep.equal(winners[0]);
      expect(await store.replace({ ...schedule, fires: 99 }, 0)).to.equal(undefined);
      expect(await store.replace({ ...sampleSchedule(), id: 'contract-unknown' }, 0)).to.equal(undefined);
    });

    it('finds unpaused due schedules earliest first, and the earliest due time', async () => {
      const base = Date.now() + 3_600_000;
      const at = (s: number) => new Date(base + s * 1000).toISOString();
      const late = sampleSchedule({ nextDueAt: at(20) });
      const early = sampleSchedule({ nextDueAt: at(10) });
      const paused = sampleSchedule({ nextDueAt: at(5), paused: true });
      const future = sampleSchedule({ nextDueAt: at(40) });
      for (const s of [late, early, paused, future]) await store.create(s);
      const ids = (await store.due(at(30), 100)).map((s) => s.id).filter((id) => id.startsWith('contract-'));
      const mine = new Set([late.id, early.id, paused.id, future.id]);
      expect(ids.filter((id) => mine.has(id))).to.deep.equal([early.id, late.id]);
      expect((await store.due(at(30), 1)).length).to.equal(1);
      const next = await store.nextDueAt();
      expect(next).to.be.a('string');
      expect(Date.parse(next!)).to.be.at.most(Date.parse(at(10)));
    });

    it('deletes a schedule, saying whether there was one', async () => {
      const schedule = sampleSchedule();
      await store.create(schedule);
      expect(await store.delete(schedule.id)).to.equal(true);
      expect(await store.delete(schedule.id)).to.equal(false);
      expect(await store.get(schedule.id)).to.equal(undefined);
    });
  });
}
