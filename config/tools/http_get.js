// Fetches a URL with GET. Needs the `fetch` capability: the plugin's options must list the host, e.g.
//   capabilities: { fetch: { allowHosts: ['api.github.com'] } }
export default {
  name: 'http_get',
  description:
    'GETs a URL from an allowed host and returns the status, content type and body (JSON bodies parsed, text truncated to maxChars).',
  capabilities: ['fetch'],
  inputSchema: {
    type: 'object',
    properties: {
      url: { type: 'string', description: 'Absolute http(s) URL.' },
      maxChars: {
        type: 'integer',
        minimum: 1,
        maximum: 100000,
        default: 4000,
        description: 'Longest text body returned.',
      },
    },
    required: ['url'],
    additionalProperties: false,
  },
  async run({ url, maxChars = 4000 }) {
    const response = await fetch(url, { headers: { accept: 'application/json, text/plain;q=0.9, */*;q=0.5' } });
    const contentType = response.headers['content-type'] ?? '';
    const text = await response.text();
    console.info(`GET ${url} -> ${response.status} (${text.length} characters)`);
    if (contentType.includes('json')) {
      try {
        return { status: response.status, contentType, json: JSON.parse(text) };
      } catch {
        // not JSON after all: fall through to text
      }
    }
    return { status: response.status, contentType, text: text.slice(0, maxChars), truncated: text.length > maxChars };
  },
};
