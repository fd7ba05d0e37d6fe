import { BoundedMap, type Task, type TaskIdentity } from '@opspawn/plugin-sdk';

/** Tasks remembered at once; past it the oldest is forgotten (and read from the store again if asked for). */
const MAX_REMEMBERED = 10_000;

/**
 * The identities (fields that never change) of the tasks this process created or moved lately. Never stale, since
 * nothing in them changes; bounded, since a busy process sees tasks without end. It lets a consumer of every event,
 * such as the metrics plugin, label what it counts without reading each task back.
 */
export class TaskIdentities {
  private readonly known = new BoundedMap<string, TaskIdentity>(MAX_REMEMBERED);

  remember(task: Task): TaskIdentity {
    const known = this.known.get(task.id);
    if (known) return known;
    const identity: TaskIdentity = {
      id: task.id,
      planner: task.planner,
      memory: task.memory,
      sessionId: task.sessionId,
      createdAt: task.createdAt,
      ...(task.agent !== undefined ? { agent: task.agent } : {}),
      ...(task.parentId !== undefined ? { parentId: task.parentId } : {}),
    };
    this.known.set(task.id, identity);
    return identity;
  }

  get(id: string): TaskIdentity | undefined {
    return this.known.get(id);
  }
}
