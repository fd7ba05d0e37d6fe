// Picks values out of a JSON document by path: "user.name", "items[0].price", "items[*].id", "meta['content-type']".
function parsePath(path) {
  const steps = [];
  const pattern = /\.?([A-Za-z_$][\w$]*)|\[(\d+|\*)\]|\[(['"])(.*?)\3\]/y;
  const rest = path.replace(/^\$\.?/, '');
  pattern.lastIndex = 0;
  while (pattern.lastIndex < rest.length) {
    const start = pattern.lastIndex;
    const m = pattern.exec(rest);
    if (!m) throw new Error(`cannot read path "${path}" at "${rest.slice(start)}"`);
    steps.push(m[1] ?? (m[2] === '*' ? '*' : m[2] !== undefined ? Number(m[2]) : m[4]));
  }
  return steps;
}

function pick(value, steps) {
  if (steps.length === 0) return value;
  const [step, ...rest] = steps;
  if (step === '*') {
    if (!Array.isArray(value)) return undefined;
    return value.map((v) => pick(v, rest)).map((v) => (v === undefined ? null : v));
  }
  if (value === null || typeof value !== 'object' || !Object.hasOwn(value, step)) return undefined;
  return pick(value[step], rest);
}

export default {
  name: 'json_pick',
  description:
    'Picks values out of a JSON document by path, e.g. "user.name", "items[0].price", "items[*].id". With `path` returns { found, value }; with `paths` returns { results: [{ path, found, value }] }. A path that does not exist gives found: false.',
  inputSchema: {
    type: 'object',
    properties: {
      value: { description: 'The JSON document (any JSON value), or a string of JSON text.' },
      path: { type: 'string', description: 'One path to read.' },
      paths: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'Several paths to read.' },
    },
    required: ['value'],
    additionalProperties: false,
  },
  run({ value, path, paths }) {
    let doc = value;
    if (typeof value === 'string') {
      try {
        doc = JSON.parse(value);
      } catch {
        doc = value;
      }
    }
    const read = (p) => {
      const found = pick(doc, parsePath(p));
      return found === undefined ? { path: p, found: false, value: null } : { path: p, found: true, value: found };
    };
    if (typeof path === 'string') {
      const { found, value: picked } = read(path);
      return { found, value: picked };
    }
    if (!Array.isArray(paths)) throw new Error('give either path (a string) or paths (an array of strings)');
    return { results: paths.map(read) };
  },
};
