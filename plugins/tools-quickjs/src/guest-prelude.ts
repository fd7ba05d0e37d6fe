/**
 * JavaScript evaluated in each fresh context before the tool's module. It takes the host bridge functions off
 * `globalThis` (so only this code holds them), installs `console` and, when granted, `fetch`, and returns the two
 * entry points the host calls: `describe(namespace)` and `invoke(namespace, inputJson, maxBytes)`.
 *
 * It captures the builtins it relies on before the tool runs. A tool that tampers with builtins can only spoil
 * its own result: the host still checks that the result is a string of JSON within the size limit.
 */
export const GUEST_PRELUDE = String.raw`(() => {
  'use strict';
  const host = globalThis.__opspawnHost;
  delete globalThis.__opspawnHost;
  const hostLog = host.log;
  const hostFetch = host.fetch;
  const { parse, stringify } = JSON;
  const { getPrototypeOf, keys, defineProperty, freeze } = Object;
  const ObjectProto = Object.prototype;
  const isArray = Array.isArray;
  const finite = Number.isFinite;
  const toStr = String;
  const objectTag = Object.prototype.toString;
  const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
  const test = RegExp.prototype.test;

  const failure = (kind, message) => ({ kind, message });

  function show(value) {
    if (typeof value === 'string') return value;
    if (value instanceof Error) return value.name + ': ' + value.message;
    try {
      const text = stringify(value);
      if (text !== undefined) return text;
    } catch {}
    try { return toStr(value); } catch { return objectTag.call(value); }
  }

  function describeThrown(e) {
    if (e !== null && typeof e === 'object' && typeof e.name === 'string' && typeof e.message === 'string') {
      const frame = typeof e.stack === 'string' ? e.stack.split('\n').find((l) => l.includes('(') && !l.includes('(native)')) : undefined;
      const where = frame ? ' (' + frame.trim() + ')' : '';
      if (e.name === 'InternalError' && e.message === 'out of memory') return failure('oom', e.message);
      if (e.name === 'InternalError' && e.message === 'stack overflow') return failure('stack', e.message);
      if (e.name === 'InternalError' && e.message === 'interrupted') return failure('interrupted', e.message);
      return failure('threw', e.name + ': ' + e.message + where);
    }
    return failure('threw', 'a non-Error value: ' + show(e));
  }

  function pathOf(steps) {
    let path = 'output';
    for (const step of steps) {
      if (typeof step === 'number') path += '[' + step + ']';
      else if (test.call(identifier, step)) path += '.' + step;
      else path += '[' + stringify(step) + ']';
    }
    return path;
  }

  // Refuses anything JSON.stringify would silently drop or change, naming where it is.
  function toJson(value, maxBytes) {
    const parents = [];
    const steps = [];
    let budget = maxBytes;
    const bad = (why) => { throw failure('not-json', pathOf(steps) + ' ' + why); };
    const walk = (v) => {
      if (v !== null && typeof v === 'object' && typeof v.toJSON === 'function') v = v.toJSON();
      switch (typeof v) {
        case 'string': budget -= v.length + 2; break;
        case 'number': if (!finite(v)) bad('is ' + v + ', which JSON cannot represent'); budget -= 8; break;
        case 'boolean': budget -= 5; break;
        case 'undefined': bad('is undefined; return null, or leave the property out'); break;
        case 'function': bad('is a function; only data crosses the sandbox boundary'); break;
        case 'bigint': bad('is a BigInt (' + v + 'n); convert it to a string or a number'); break;
        case 'symbol': bad('is a symbol'); break;
        default: {
          if (v === null) { budget -= 4; break; }
          if (parents.includes(v)) bad('refers back to an object that contains it (a cycle)');
          if (parents.length >= 256) bad('is nested more than 256 levels deep');
          parents.push(v);
          if (isArray(v)) {
            budget -= 2 + v.length;
            for (let i = 0; i < v.length && budget >= 0; i++) { steps.push(i); walk(v[i]); steps.pop(); }
          } else {
            const proto = getPrototypeOf(v);
            if (proto !== ObjectProto && proto !== null) {
              const name = proto && proto.constructor && typeof proto.constructor.name === 'string' ? proto.constructor.name : 'object';
              bad('is a ' + name + ', not a plain object or array');
            }
            budget -= 2;
            for (const k of keys(v)) {
              if (budget < 0) break;
              budget -= k.length + 4;
              steps.push(k); walk(v[k]); steps.pop();
            }
          }
          parents.pop();
        }
      }
      if (budget < 0) throw failure('too-large', 'output is larger than ' + maxBytes + ' bytes');
    };
    walk(value);
    return stringify(value);
  }

  const levels = { log: 'info', info: 'info', debug: 'debug', trace: 'debug', warn: 'warn', error: 'error' };
  const sandboxConsole = {};
  for (const method of keys(levels)) {
    const level = levels[method];
    sandboxConsole[method] = (...args) => { hostLog(level, args.map(show).join(' ')); };
  }
  defineProperty(globalThis, 'console', { value: freeze(sandboxConsole), writable: true, configurable: true, enumerable: false });

  if (typeof hostFetch === 'function') {
    const sandboxFetch = async function fetch(url, init) {
      const options = init ?? {};
      const request = { url: toStr(url), method: toStr(options.method ?? 'GET').toUpperCase(), headers: {}, body: null };
      if (options.headers !== undefined) for (const k of keys(options.headers)) request.headers[toStr(k)] = toStr(options.headers[k]);
      if (options.body !== undefined && options.body !== null) request.body = toStr(options.body);
      const r = parse(await hostFetch(stringify(request)));
      return freeze({
        ok: r.status >= 200 && r.status < 300, status: r.status, statusText: r.statusText, url: r.url,
        headers: freeze(r.headers), text: async () => r.body, json: async () => parse(r.body),
      });
    };
    defineProperty(globalThis, 'fetch', { value: sandboxFetch, writable: true, configurable: true, enumerable: false });
  }

  async function describe(namespace) {
    const tool = (await namespace).default;
    if (tool === null || typeof tool !== 'object') {
      throw failure('invalid', 'it has no default export object; write export default { name, description, inputSchema, run(input) { ... } }');
    }
    const meta = { run: typeof tool.run };
    for (const field of ['name', 'description', 'inputSchema', 'outputSchema', 'capabilities']) {
      if (tool[field] !== undefined) meta[field] = tool[field];
    }
    try { return toJson(meta, 1048576); } catch (e) { throw failure('invalid', e && e.message ? e.message.replace(/^output/, 'its metadata') : show(e)); }
  }

  async function invoke(namespace, inputJson, maxBytes) {
    let output;
    try {
      const tool = (await namespace).default;
      output = await tool.run(parse(inputJson));
    } catch (e) {
      throw describeThrown(e);
    }
    return toJson(output, maxBytes);
  }

  return { describe, invoke };
})()`;
