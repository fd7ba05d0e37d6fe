// Counts characters, words, sentences and lines of a text, and lists its most frequent words.
const STOP_WORDS = new Set(
  'a an and are as at be but by for from has have i in is it its of on or that the this to was were will with'.split(
    ' ',
  ),
);

export default {
  name: 'text_stats',
  description:
    'Statistics of a text: characters, words, sentences, lines, average word length, estimated reading time, and the most frequent words (common stop words left out).',
  inputSchema: {
    type: 'object',
    properties: {
      text: { type: 'string', description: 'The text to measure.' },
      top: { type: 'integer', minimum: 0, maximum: 100, default: 5, description: 'How many frequent words to list.' },
    },
    required: ['text'],
    additionalProperties: false,
  },
  run({ text, top = 5 }) {
    const words = text.toLowerCase().match(/[\p{L}\p{N}'’]+/gu) ?? [];
    const counts = new Map();
    for (const w of words) if (!STOP_WORDS.has(w)) counts.set(w, (counts.get(w) ?? 0) + 1);
    const topWords = [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, top)
      .map(([word, count]) => ({ word, count }));
    const letters = words.reduce((n, w) => n + w.length, 0);
    return {
      characters: [...text].length,
      charactersNoSpaces: [...text.replace(/\s/g, '')].length,
      words: words.length,
      sentences: (text.match(/[^.!?]+[.!?]+(\s|$)/g) ?? []).length || (text.trim() ? 1 : 0),
      lines: text === '' ? 0 : text.split(/\r\n|\r|\n/).length,
      averageWordLength: words.length ? Math.round((letters / words.length) * 100) / 100 : 0,
      readingTimeSeconds: Math.ceil((words.length / 230) * 60),
      topWords,
    };
  },
};
