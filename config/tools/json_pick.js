// Picks values out of a JSON document by path: "user.name", "items[0].price", "items[*].id", "meta['content-type']".
function parsePath(path) {
  const steps = [];
  const pattern = /\.?([A-Za-z_$][\w$]*)|\[(\d+|\*)\]|\[(['"])(.*?)\3\]/y;
  let rest = path.replace(/^\$\.?/, '');
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
  if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, step)) return undefined;
  return pick(value[step], rest);
}

export default {
  name: 'json_pick',
  description: 'Picks values out of a JSON document by path, e.g. "user.name", "items[0].price", "items[*].id". Returns one entry per path; a path that does not exist gives found: false.',
  inputSchema: {
    type: 'object',
    properties: {
      data: { description: 'The JSON document (any JSON value), or a string of JSON text.' },
      paths: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'Paths to read.' },
    },
    required: ['data', 'paths'],
    additionalProperties: false,
  },
  run({ data, paths }) {
    let doc = data;
    if (typeof data === 'string') {
      try { doc = JSON.parse(data); } catch { doc = data; }
    }
    return {
      results: paths.map((path) => {
        const value = pick(doc, parsePath(path));
        return value === undefined ? { path, found: false, value: null } : { path, found: true, value };
      }),
    };
  },
};
