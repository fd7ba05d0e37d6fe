import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/**
 * The messages a session sent lately, so a client whose SSE stream broke can resume it with `Last-Event-ID` (the
 * SDK replays them). At most `capacity` messages per session, oldest dropped first; it goes with its session.
 */
export class BoundedEventStore implements EventStore {
  private readonly messages: Array<{ id: string; streamId: string; message: JSONRPCMessage }> = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const id = `${streamId}:${(this.next++).toString(36).padStart(8, '0')}`;
    this.messages.push({ id, streamId, message });
    if (this.messages.length > this.capacity) this.messages.shift();
    return id;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.messages.find((m) => m.id === eventId)?.streamId;
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const at = this.messages.findIndex((m) => m.id === lastEventId);
    if (at < 0) return '';
    const { streamId } = this.messages[at]!;
    for (const m of this.messages.slice(at + 1)) if (m.streamId === streamId) await send(m.id, m.message);
    return streamId;
  }
}
