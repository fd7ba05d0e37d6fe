import { expect } from 'chai';
import type { ChatMessage, Memory } from '../extension-points/memory.js';

export interface MemoryUnderTest {
  memory: Memory;
  /** Runs after each test: close connections, delete what the test wrote. */
  cleanup?: () => Promise<void>;
}

let sessionCounter = 0;
/** A session id no other test (or earlier run against a shared backend) has used. */
function freshSession(label: string): string {
  return `contract-${label}-${process.pid}-${Date.now().toString(36)}-${sessionCounter++}`;
}

const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });

/**
 * What every memory promises (see `Memory`): sessions never see each other's messages, `load` gives the most
 * recent messages in order within a bounded window, `clear` forgets a session, and what callers hold is theirs.
 * The window's size is the implementation's: these tests only need it to be smaller than 500 messages of about
 * 100 tokens each.
 *
 *     memoryContract('memory-buffer', async () => ({ memory: new BufferMemory() }));
 */
export function memoryContract(name: string, makeMemory: () => Promise<MemoryUnderTest>): void {
  describe(`${name} keeps the memory contract`, () => {
    /** Undefined while a make function fails: afterEach then has nothing to clean up, and the failure shows as is. */
    let subject: MemoryUnderTest | undefined;
    let memory: Memory;

    beforeEach(async () => {
      subject = undefined;
      subject = await makeMemory();
      memory = subject.memory;
    });

    afterEach(async () => {
      await subject?.cleanup?.();
    });

    it('loads nothing for a session it has never seen', async () => {
      expect(await memory.load(freshSession('unknown'))).to.deep.equal([]);
    });

    it('loads messages in the order they were appended, across appends', async () => {
      const session = freshSession('order');
      await memory.append(session, [user('one'), assistant('two')]);
      await memory.append(session, [user('three')]);
      await memory.append(session, [assistant('four')]);
      expect((await memory.load(session)).map((m) => m.content)).to.deep.equal(['one', 'two', 'three', 'four']);
    });

    it('keeps tool calls and tool results as they were appended', async () => {
      const session = freshSession('tools');
      const messages: ChatMessage[] = [
        user('add 2 and 3'),
        { role: 'assistant', content: '', toolCalls: [{ id: 'call-1', tool: 'math__add', arguments: { a: 2, b: 3 } }] },
        { role: 'tool', content: '5', toolCallId: 'call-1', name: 'math__add' },
        assistant('5'),
      ];
      await memory.append(session, messages);
      expect(await memory.load(session)).to.deep.equal(messages);
    });

    it('never shows one session the messages of another', async () => {
      const alice = freshSession('alice');
      const bob = freshSession('bob');
      await memory.append(alice, [user('alice speaking')]);
      await memory.append(bob, [user('bob speaking')]);
      await memory.append(alice, [assistant('hello alice')]);
      expect((await memory.load(alice)).map((m) => m.content)).to.deep.equal(['alice speaking', 'hello alice']);
      expect((await memory.load(bob)).map((m) => m.content)).to.deep.equal(['bob speaking']);
    });

    it('bounds the window to the most recent messages, newest last', async () => {
      const session = freshSession('window');
      const padding = 'x'.repeat(400);
      const all = Array.from({ length: 500 }, (_, i) => (i % 2 === 0 ? user : assistant)(`message ${i} ${padding}`));
      for (let i = 0; i < all.length; i += 50) await memory.append(session, all.slice(i, i + 50));
      const window = await memory.load(session);
      expect(window.length).to.be.greaterThan(0);
      expect(window.length).to.be.lessThan(all.length);
      // The window is a contiguous run of the newest messages.
      expect(window.map((m) => m.content)).to.deep.equal(all.slice(all.length - window.length).map((m) => m.content));
    });

    it('forgets a cleared session and keeps the others', async () => {
      const gone = freshSession('gone');
      const kept = freshSession('kept');
      await memory.append(gone, [user('forget me')]);
      await memory.append(kept, [user('keep me')]);
      await memory.clear(gone);
      expect(await memory.load(gone)).to.deep.equal([]);
      expect((await memory.load(kept)).map((m) => m.content)).to.deep.equal(['keep me']);
      await memory.append(gone, [user('a fresh start')]);
      expect((await memory.load(gone)).map((m) => m.content)).to.deep.equal(['a fresh start']);
    });

    it('is not changed by callers changing what they appended or loaded', async () => {
      const session = freshSession('copies');
      const appended: ChatMessage[] = [
        { role: 'assistant', content: 'original', toolCalls: [{ id: 'c1', tool: 'ns__t', arguments: { n: 1 } }] },
      ];
      await memory.append(session, appended);
      appended[0]!.content = 'changed after append';
      (appended[0]!.toolCalls![0]!.arguments as { n: number }).n = 2;
      const loaded = await memory.load(session);
      loaded[0]!.content = 'changed after load';
      loaded.push(user('pushed by a caller'));
      expect(await memory.load(session)).to.deep.equal([
        { role: 'assistant', content: 'original', toolCalls: [{ id: 'c1', tool: 'ns__t', arguments: { n: 1 } }] },
      ]);
    });
  });
}
