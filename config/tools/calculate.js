// Evaluates an arithmetic expression with a small parser (no eval): numbers, + - * / % ^, parentheses,
// the constants pi and e, and the functions below.
const FUNCTIONS = {
  sqrt: Math.sqrt,
  abs: Math.abs,
  sin: Math.sin,
  cos: Math.cos,
  tan: Math.tan,
  asin: Math.asin,
  acos: Math.acos,
  atan: Math.atan,
  ln: Math.log,
  log: Math.log10,
  log2: Math.log2,
  exp: Math.exp,
  floor: Math.floor,
  ceil: Math.ceil,
  round: Math.round,
  min: Math.min,
  max: Math.max,
  pow: Math.pow,
};
const CONSTANTS = { pi: Math.PI, e: Math.E };

function tokenize(text) {
  const tokens = [];
  const pattern = /\s*(?:(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|([A-Za-z_]\w*)|(\S))/y;
  while (pattern.lastIndex < text.length) {
    const match = pattern.exec(text);
    if (!match) break;
    if (match[1] !== undefined) tokens.push({ type: 'number', value: Number(match[1]) });
    else if (match[2] !== undefined) tokens.push({ type: 'name', value: match[2].toLowerCase() });
    else if (match[3] !== undefined) tokens.push({ type: 'op', value: match[3] });
  }
  return tokens;
}

function parse(text) {
  const tokens = tokenize(text);
  let i = 0;
  const peek = () => tokens[i];
  const take = (value) => {
    const t = tokens[i];
    if (!t) throw new Error(`"${text}" ends too early${value ? `: expected '${value}'` : ''}`);
    if (value !== undefined && t.value !== value)
      throw new Error(`expected '${value}' but found '${t.value}' in "${text}"`);
    i++;
    return t;
  };
  // expression := term (('+' | '-') term)*
  const expression = () => {
    let v = term();
    while (peek() && (peek().value === '+' || peek().value === '-')) v = take().value === '+' ? v + term() : v - term();
    return v;
  };
  // term := power (('*' | '/' | '%') power)*
  const term = () => {
    let v = power();
    while (peek() && ['*', '/', '%'].includes(peek().value)) {
      const op = take().value;
      const r = power();
      v = op === '*' ? v * r : op === '/' ? v / r : v % r;
    }
    return v;
  };
  // power := unary ('^' power)?
  const power = () => {
    const base = unary();
    if (peek() && peek().value === '^') {
      take();
      return base ** power();
    }
    return base;
  };
  const unary = () => {
    if (peek() && peek().value === '-') {
      take();
      return -unary();
    }
    if (peek() && peek().value === '+') {
      take();
      return unary();
    }
    return primary();
  };
  const primary = () => {
    const t = take();
    if (t.type === 'number') return t.value;
    if (t.type === 'op' && t.value === '(') {
      const v = expression();
      take(')');
      return v;
    }
    if (t.type === 'name') {
      if (t.value in CONSTANTS) return CONSTANTS[t.value];
      const fn = FUNCTIONS[t.value];
      if (!fn)
        throw new Error(
          `unknown name '${t.value}' (functions: ${Object.keys(FUNCTIONS).join(', ')}; constants: pi, e)`,
        );
      take('(');
      const args = [];
      if (peek() && peek().value !== ')') {
        args.push(expression());
        while (peek() && peek().value === ',') {
          take();
          args.push(expression());
        }
      }
      take(')');
      return fn(...args);
    }
    throw new Error(`unexpected '${t.value}' in "${text}"`);
  };
  const value = expression();
  if (i < tokens.length) throw new Error(`unexpected '${tokens[i].value}' after a complete expression in "${text}"`);
  return value;
}

export default {
  name: 'calculate',
  description:
    'Evaluates an arithmetic expression exactly as written, e.g. "2 * (3 + 4) ^ 2 / sqrt(16)". Supports + - * / % ^, parentheses, pi, e and sqrt, abs, sin, cos, tan, ln, log, exp, floor, ceil, round, min, max, pow.',
  inputSchema: {
    type: 'object',
    properties: { expression: { type: 'string', description: 'The expression to evaluate.' } },
    required: ['expression'],
    additionalProperties: false,
  },
  outputSchema: {
    type: 'object',
    properties: { value: { type: 'number' } },
    required: ['value'],
  },
  run({ expression }) {
    const value = parse(expression);
    if (!Number.isFinite(value)) throw new Error(`"${expression}" has no finite value (got ${value})`);
    return { value };
  },
};
