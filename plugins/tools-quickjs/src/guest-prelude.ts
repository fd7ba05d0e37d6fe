/**
 * The guest side of a call, in JavaScript the sandbox evaluates. QuickJS compiles source again in every fresh
 * context (quickjs-emscripten offers no bytecode cache), at about 0.1 ms per kilobyte of code but a tenth of that
 * per kilobyte of string literal. So the prelude every call evaluates holds only what a successful call runs; what
 * failures, console output, `fetch` and reading a tool file need is kept as text and compiled only when needed. The
 * largest piece, the helpers below, stays on the host until then: as a string literal in the prelude it still cost
 * a sixth of the prelude's time.
 */

/**
 * Helpers for the paths a successful, quiet call never takes: wording a thrown value (`show`, `describeThrown`) and
 * the full output check, which walks the value with a size budget (so no huge string is built) and refuses anything
 * JSON.stringify would silently drop or change, naming where it is. It takes the builtins the prelude captured
 * before the tool ran. The host hands this text to the guest when it is first needed (`__opspawnHost.helpers()`).
 */
export const GUEST_HELPERS = String.raw`((builtins) => {
  'use strict';
  const { stringify, getPrototypeOf, keys, isArray, finite, toStr, objectTag, ObjectProto, failure } = builtins;
  const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
  const test = RegExp.prototype.test;

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

  return { show, describeThrown, toJson };
})`;

/**
 * Evaluated in each fresh context before the tool's module. It takes the host bridge (`log`, and `helpers`, which
 * returns GUEST_HELPERS) off `globalThis` (so only this code holds it), installs `console`, and returns what the host
 * calls: `invoke(namespace, inputJson, maxBytes)`, and `toJson`, `failure` and `show` for the snippets below.
 *
 * It captures the builtins it relies on before the tool runs, and hands them to the helpers it compiles later. A
 * tool that tampers with builtins can only spoil its own result: the host still checks that the result is a string
 * of JSON within the size limit.
 */
export const GUEST_PRELUDE = `(() => {
  'use strict';
  const host = globalThis.__opspawnHost;
  delete globalThis.__opspawnHost;
  const hostLog = host.log;
  const helpersSource = host.helpers;
  const { parse, stringify } = JSON;
  const { getPrototypeOf, keys, defineProperty, freeze } = Object;
  const ObjectProto = Object.prototype;
  const isArray = Array.isArray;
  const finite = Number.isFinite;
  const toStr = String;
  const objectTag = Object.prototype.toString;
  const indirectEval = eval;
  const failure = (kind, message) => ({ kind, message });
  let compiled;
  const helpers = () => (compiled ??= indirectEval(helpersSource())({ stringify, getPrototypeOf, keys, isArray, finite, toStr, objectTag, ObjectProto, failure }));
  const show = (value) => (typeof value === 'string' ? value : helpers().show(value));

  // The common case, cheaply: JSON.stringify with a replacer that gives up on anything it would drop or change, on
  // nesting deeper than 256 levels, and once the output is past the limit (so no huge string is built). Giving up
  // hands the value to the full check, which says where the problem is.
  const gaveUp = {};
  const giveUp = () => { throw gaveUp; };
  function quickJson(value, maxBytes) {
    let budget = maxBytes;
    const depths = new Map();
    const text = stringify(value, function (key, v) {
      budget -= key.length + 1;
      switch (typeof v) {
        case 'string': budget -= v.length; break;
        case 'number': if (!finite(v)) giveUp(); break;
        case 'boolean': break;
        case 'object': {
          if (v === null) break;
          if (!isArray(v)) {
            const proto = getPrototypeOf(v);
            if (proto !== ObjectProto && proto !== null) giveUp();
          }
          const depth = (depths.get(this) ?? 0) + 1;
          if (depth > 256) giveUp();
          depths.set(v, depth);
          break;
        }
        default: giveUp();
      }
      if (budget < 0) giveUp();
      return v;
    });
    return typeof text === 'string' && text.length <= maxBytes ? text : undefined;
  }

  function toJson(value, maxBytes) {
    try {
      const text = quickJson(value, maxBytes);
      if (text !== undefined) return text;
    } catch (e) {
      // Out of memory or of stack inside stringify: the host must hear of it, as it discards the module.
      if (e !== gaveUp && e !== null && typeof e === 'object' && e.name === 'InternalError') throw helpers().describeThrown(e);
    }
    return helpers().toJson(value, maxBytes);
  }

  const levels = { log: 'info', info: 'info', debug: 'debug', trace: 'debug', warn: 'warn', error: 'error' };
  const sandboxConsole = {};
  for (const method of keys(levels)) {
    const level = levels[method];
    sandboxConsole[method] = (...args) => { hostLog(level, args.map(show).join(' ')); };
  }
  defineProperty(globalThis, 'console', { value: freeze(sandboxConsole), writable: true, configurable: true, enumerable: false });

  async function invoke(namespace, inputJson, maxBytes) {
    let output;
    try {
      const tool = (await namespace).default;
      output = await tool.run(parse(inputJson));
    } catch (e) {
      throw helpers().describeThrown(e);
    }
    return toJson(output, maxBytes);
  }

  return { invoke, toJson, failure, show };
})()`;

/**
 * Evaluated only for calls granted `fetch`, before the tool's module (so the builtins are still the real ones): a
 * function that takes the host's fetch bridge and installs the guest's `fetch` on it.
 */
export const GUEST_FETCH = `((hostFetch) => {
  'use strict';
  const { parse, stringify } = JSON;
  const { keys, defineProperty, freeze } = Object;
  const toStr = String;
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
})`;

/** Evaluated only when a tool file is read: a function that takes the prelude's API and returns `describe(namespace)`. */
export const GUEST_DESCRIBE = `((api) => async function describe(namespace) {
  'use strict';
  const { toJson, failure, show } = api;
  const tool = (await namespace).default;
  if (tool === null || typeof tool !== 'object') {
    throw failure('invalid', 'it has no default export object; write export default { name, description, inputSchema, run(input) { ... } }');
  }
  const meta = { run: typeof tool.run };
  for (const field of ['name', 'description', 'inputSchema', 'outputSchema', 'capabilities']) {
    if (tool[field] !== undefined) meta[field] = tool[field];
  }
  try { return toJson(meta, 1048576); } catch (e) { throw failure('invalid', e && e.message ? e.message.replace(/^output/, 'its metadata') : show(e)); }
})`;
