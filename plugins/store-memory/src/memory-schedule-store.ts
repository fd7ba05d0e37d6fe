import type { Schedule, ScheduleStore } from '@opspawn/plugin-sdk';

/** Schedules in process memory; each method runs in one turn of the event loop, so `replace` is a compare-and-set. */
export class MemoryScheduleStore implements ScheduleStore {
  private readonly schedules = new Map<string, Schedule>();

  async create(schedule: Schedule): Promise<boolean> {
    if (this.schedules.has(schedule.id)) return false;
    this.schedules.set(schedule.id, structuredClone(schedule));
    return true;
  }

  async get(id: string): Promise<Schedule | undefined> {
    const found = this.schedules.get(id);
    return found && structuredClone(found);
  }

  async list(): Promise<Schedule[]> {
    return [...this.schedules.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((s) => structuredClone(s));
  }

  async replace(schedule: Schedule, expectRevision: number): Promise<Schedule | undefined> {
    if (this.schedules.get(schedule.id)?.revision !== expectRevision) return undefined;
    const stored = structuredClone({ ...schedule, revision: expectRevision + 1 });
    this.schedules.set(schedule.id, stored);
    return structuredClone(stored);
  }

  async delete(id: string): Promise<boolean> {
    return this.schedules.delete(id);
  }

  async due(now: string, limit: number): Promise<Schedule[]> {
    const at = Date.parse(now);
    return [...this.schedules.values()]
      .filter((s) => !s.paused && Date.parse(s.nextDueAt) <= at)
      .sort((a, b) => Date.parse(a.nextDueAt) - Date.parse(b.nextDueAt))
      .slice(0, limit)
      .map((s) => structuredClone(s));
  }

  async nextDueAt(): Promise<string | undefined> {
    let earliest: Schedule | undefined;
    for (const s of this.schedules.values())
      if (!s.paused && (!earliest || Date.parse(s.nextDueAt) < Date.parse(earliest.nextDueAt))) earliest = s;
    return earliest?.nextDueAt;
  }
}
