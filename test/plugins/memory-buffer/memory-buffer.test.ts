import { expect } from 'chai';
import type { ChatMessage } from '@opspawn/plugin-sdk';
import { memoryContract } from '@opspawn/plugin-sdk/testing';
import { BufferMemory, approximateTokens } from '@opspawn/memory-buffer';

memoryContract('memory-buffer', async () => ({ memory: new BufferMemory() }));

const system = (content: string): ChatMessage => ({ role: 'system', content });
const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });
const askTools = (...ids: string[]): ChatMessage => ({
  role: 'assistant',
  content: '',
  toolCalls: ids.map((id) => ({ id, tool: 'math__add', arguments: { a: 1, b: 2 } })),
});
const toolResult = (id: string): ChatMessage => ({ role: 'tool', content: '3', toolCallId: id, name: 'math__add' });
const contents = (messages: ChatMessage[]) => messages.map((m) => m.content);

describe('memory-buffer', () => {
  it('hands out deep copies of nested arguments, Dates and undefined fields included', async () => {
    const memory = new BufferMemory();
    const when = new Date('2026-12-01T00:00:00Z');
    const args = { list: [{ n: 1 }], when, note: undefined };
    await memory.append('s', [
      { role: 'assistant', content: '', toolCalls: [{ id: 'c1', tool: 'ns__t', arguments: args }] },
    ]);
    args.list[0]!.n = 2;
    const [first] = await memory.load('s');
    const loaded = first!.toolCalls![0]!.arguments as typeof args;
    expect(loaded).to.deep.equal({ list: [{ n: 1 }], when, note: undefined });
    expect(loaded).to.have.property('note');
    expect(loaded.when).to.be.instanceOf(Date).and.not.equal(when);
    loaded.list.push({ n: 3 });
    const [again] = await memory.load('s');
    expect((again!.toolCalls![0]!.arguments as typeof args).list).to.deep.equal([{ n: 1 }]);
  });

  it('returns the newest maxMessages messages, in order', async () => {
    const memory = new BufferMemory({ maxMessages: 3 });
    await memory.append('s', ['1', '2', '3', '4', '5'].map(user));
    expect(contents(await memory.load('s'))).to.deep.equal(['3', '4', '5']);
  });

  it('keeps the newest messages when history grows far past the window', async () => {
    const memory = new BufferMemory({ maxMessages: 4 });
    for (let i = 0; i < 1000; i++) await memory.append('s', [user(String(i))]);
    expect(contents(await memory.load('s'))).to.deep.equal(['996', '997', '998', '999']);
  });

  it('always keeps the leading system message, counted in the window', async () => {
    const memory = new BufferMemory({ maxMessages: 3 });
    for (let i = 0; i < 200; i++) await memory.append('s', i === 0 ? [system('be brief')] : [user(String(i))]);
    expect(contents(await memory.load('s'))).to.deep.equal(['be brief', '198', '199']);
  });

  it('keeps the system message even when it alone exceeds the token budget', async () => {
    const memory = new BufferMemory({ maxTokens: 10 });
    await memory.append('s', [system('x'.repeat(200)), user('hello')]);
    expect((await memory.load('s')).map((m) => m.role)).to.deep.equal(['system']);
  });

  it('only pins a system message that leads the session', async () => {
    const memory = new BufferMemory({ maxMessages: 2 });
    await memory.append('s', [user('first'), system('late system note'), user('second'), user('third')]);
    expect(contents(await memory.load('s'))).to.deep.equal(['second', 'third']);
  });

  it('bounds the window by approximate tokens: ceil(characters / 4) over content and tool calls', async () => {
    expect(approximateTokens(user('abcde'))).to.equal(2);
    const call = askTools('c1');
    expect(approximateTokens(call)).to.equal(Math.ceil(JSON.stringify(call.toolCalls).length / 4));
    const memory = new BufferMemory({ maxTokens: 25 });
    // 40 characters each: 10 tokens; two fit in 25, three do not.
    await memory.append(
      's',
      ['a', 'b', 'c', 'd'].map((c) => user(c.repeat(40))),
    );
    expect(contents(await memory.load('s'))).to.deep.equal(['c'.repeat(40), 'd'.repeat(40)]);
  });

  it('stops at the first message that does not fit, never skipping over it to older ones', async () => {
    const memory = new BufferMemory({ maxTokens: 30 });
    await memory.append('s', [user('old'), user('x'.repeat(200)), user('new')]);
    expect(contents(await memory.load('s'))).to.deep.equal(['new']);
  });

  it('drops tool results at the start of the window whose tool call was cut off', async () => {
    const memory = new BufferMemory({ maxMessages: 4 });
    await memory.append('s', [user('add twice'), askTools('c1', 'c2')]);
    await memory.append('s', [toolResult('c1'), toolResult('c2'), assistant('3 and 3'), user('thanks')]);
    expect(contents(await memory.load('s'))).to.deep.equal(['3 and 3', 'thanks']);
  });

  it('keeps tool results together with the tool call that asked for them', async () => {
    const memory = new BufferMemory({ maxMessages: 4 });
    await memory.append('s', [user('old question'), user('add'), askTools('c1'), toolResult('c1'), assistant('3')]);
    expect((await memory.load('s')).map((m) => m.role)).to.deep.equal(['user', 'assistant', 'tool', 'assistant']);
  });

  it('drops orphaned tool results after the pinned system message too', async () => {
    const memory = new BufferMemory({ maxMessages: 3 });
    await memory.append('s', [system('rules'), user('add'), askTools('c1'), toolResult('c1'), assistant('3')]);
    expect((await memory.load('s')).map((m) => m.role)).to.deep.equal(['system', 'assistant']);
  });

  it('forgets the least recently used session beyond maxSessions', async () => {
    const memory = new BufferMemory({ maxSessions: 2 });
    await memory.append('a', [user('from a')]);
    await memory.append('b', [user('from b')]);
    await memory.load('a'); // a is now more recently used than b
    await memory.append('c', [user('from c')]);
    expect(contents(await memory.load('a'))).to.deep.equal(['from a']);
    expect(await memory.load('b')).to.deep.equal([]);
    expect(contents(await memory.load('c'))).to.deep.equal(['from c']);
  });
});
